from forum.text import excerpt, mentioned_usernames, render_html


def test_rendering_escapes_everything_but_the_subset():
    html = render_html('a <b onclick="x">b</b>\n\n[x](https://e.com/?a=1&b="2") *em* @小明同学 email@example.com')
    assert html.startswith("<p>a &lt;b onclick=&quot;x&quot;&gt;b&lt;/b&gt;</p><p>")
    assert '<a href="https://e.com/?a=1&amp;b=&quot;2&quot;"' in html
    assert "<em>em</em>" in html
    assert '<span class="mention">@小明同学</span>' in html
    assert "email@example.com" in html and "@example" not in html.replace("email@example.com", "")


def test_mentions_are_unique_and_bounded():
    text = " ".join(f"@user{i:02d}" for i in range(15)) + " @user00 a@b.c"
    names = mentioned_usernames(text)
    assert names[0] == "user00" and len(names) == 10 and len(set(names)) == 10


def test_excerpt_flattens_markup():
    assert excerpt("**Hi** [there](https://x.y)\n\nfriend", 50) == "Hi there friend"
    assert excerpt("长" * 200, 10) == "长" * 9 + "…"
