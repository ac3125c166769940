"""What happens in the points economy."""

from kernel.events import declare

CHECKED_IN = declare("checked_in", fields=("day", "streak"), beneficiary="actor", about="a member checked in (签到)")
LEVEL_REACHED = declare("level_reached", fields=("level",), about="a member reached a new level")
BADGE_AWARDED = declare("badge_awarded", fields=("user_id", "sequence"), about="a member earned a badge")
ACTIVITY_COUNTED = declare(
    "activity_counted",
    fields=("user_id", "metric", "count"),
    about="a member's all-time count of one contribution grew (badge rules read it)",
)
