"""Points ledger, earning rules, tasks, check-in, levels, badges, rewards mall, lottery and leaderboards."""
