"""Points ledger, earning rules, check-in, levels, badges, rewards mall, lottery, leaderboards and pre-sale."""
