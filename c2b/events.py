"""What happens on the way from idea to factory. The points economy rewards creators by reacting to these; c2b
itself never credits points."""

from kernel.events import declare

IDEA_PUBLISHED = declare(
    "idea_published", fields=("creator_id",), about="an idea passed moderation and collects support"
)
IDEA_SUPPORTED = declare("idea_supported", fields=("creator_id", "verified"), about="a member supported an idea")
IDEA_MILESTONE_REACHED = declare(
    "idea_milestone_reached",
    fields=("creator_id", "supporters", "milestone"),
    beneficiary="creator_id",
    about="an idea reached a supporter milestone (100, 1,000, 5,000, 10,000)",
)
IDEA_STATUS_CHANGED = declare(
    "idea_status_changed", fields=("creator_id", "status"), about="an idea moved to a new status"
)
IDEA_APPROVED = declare(
    "idea_approved", fields=("creator_id",), beneficiary="creator_id", about="the product team approved an idea"
)
IDEA_UPDATE_POSTED = declare(
    "idea_update_posted", fields=("update_id", "title"), about="an idea's creator posted an update for supporters"
)
PRESALE_SETTLED = declare(
    "presale_settled",
    fields=("succeeded", "paid_quantity", "moq"),
    about="a closed pre-sale was settled: confirmed (MOQ met) or failed and refunded",
)
