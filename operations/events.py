"""What happens in experience-officer campaigns."""

from kernel.events import declare

CAMPAIGN_CHECKIN = declare(
    "campaign_checkin",
    fields=("day", "count"),
    beneficiary="actor",
    about="a selected experience officer checked in for the day",
)
CAMPAIGN_COMPLETED = declare(
    "campaign_completed",
    fields=("member_id",),
    beneficiary="member_id",
    about="an officer completed every check-in day of a campaign",
)
CAMPAIGN_INVITED = declare(
    "campaign_invited", about="an operator invited the campaign's audience segment to apply (a batched fan-out)"
)
SHARE_APPROVED = declare(
    "share_approved",
    fields=("member_id", "campaign_id"),
    beneficiary="member_id",
    about="an operator approved an officer's share",
)
