"""From idea to factory: ideas and their supporters, sample polls, pre-sale campaigns and orders, payments and
refunds, and the manifest. Money lives here and only here; c2b never imports the points economy, which rewards
creators and supporters by reacting to the events this package declares in `c2b.events`."""
