"""Members, boards, posts, replies, reactions, favourites, tags, media, notifications and ideas."""
