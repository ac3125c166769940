"""Members, boards, posts, replies, reactions, favourites, tags, media and notifications."""
