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
IDEA_REMOVED = declare(
    "idea_removed",
    fields=("creator_id", "status", "reason"),
    about="moderation hid or deleted a public idea: the points it earned are clawed back",
)
IDEA_RESTORED = declare(
    "idea_restored",
    fields=("creator_id", "reason"),
    about="moderation restored a hidden idea: the clawed-back points return",
)
IDEA_MERGED = declare(
    "idea_merged",
    fields=("into_id", "title", "into_title"),
    about="a reviewer merged a duplicate idea into another; its supports now count there",
)
POLL_OPENED = declare(
    "poll_opened", fields=("idea_id", "title"), about="the product team opened a sample poll, perhaps for an idea"
)
PRESALE_PUBLISHED = declare(
    "presale_published",
    fields=("idea_id", "poll_id", "title"),
    about="a pre-sale was published: the idea's supporters and any early-access members hear when it opens",
)
PRESALE_BALANCE_DUE = declare(
    "presale_balance_due",
    fields=("title", "balance_due_at"),
    about="a deposit pre-sale met its MOQ on deposits: the balance window opened",
)
PRESALE_BALANCE_REMINDER = declare(
    "presale_balance_reminder",
    fields=("title", "balance_due_at"),
    about="24 hours before the balance deadline, members who paid only the deposit are reminded",
)
PRESALE_SETTLED = declare(
    "presale_settled",
    fields=("succeeded", "paid_quantity", "moq", "title", "idea_id"),
    about="a pre-sale was settled: confirmed (MOQ met, fully paid orders) or failed and refunded",
)
IDEA_PRODUCED = declare(
    "idea_produced",
    fields=("creator_id", "idea_id", "free_units"),
    beneficiary="creator_id",
    about="a pre-sale of the creator's idea succeeded: the creator is recognised (points and badges by rule)",
)
ORDER_SHIPPED = declare(
    "order_shipped",
    fields=("buyer_id", "carrier", "tracking_no"),
    about="fulfilment marked an order shipped with its carrier and tracking number",
)
REFUND_COMPLETED = declare(
    "refund_completed",
    fields=("buyer_id", "amount_cents", "currency"),
    about="the payment provider confirmed that a charge went back to the member",
)
