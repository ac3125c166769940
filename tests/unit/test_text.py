from forum.text import excerpt, mentioned_usernames, render_html


def test_rendering_escapes_everything_but_the_subset():
    html = render_html('a <b onclick="x">b</b>\n\n[x](https://e.com/?a=1&b="2") *em* @小明同学 email@example.com')
    assert html.startswith('<p>a &lt;b onclick="x"&gt;b&lt;/b&gt;</p>\n<p>')  # a tag typed is text
    assert '<a href="https://e.com/?a=1&amp;b=%222%22" target="_blank" rel="nofollow noopener noreferrer">' in html
    assert "<em>em</em>" in html
    assert '<span class="mention">@小明同学</span>' in html
    assert "email@example.com" in html and "@example" not in html.replace("email@example.com", "")


def test_the_subset_and_nothing_else():
    html = render_html("one\ntwo\n\n- a\n- b\n\n> said `@code` [js](javascript:alert(1)) ![i](https://e.com/i.png)")
    assert "one<br>\ntwo" in html and "<ul>\n<li>a</li>" in html and "<blockquote>" in html
    assert "<code>@code</code>" in html and "mention" not in html  # no mention inside code
    assert "javascript" not in html.replace("[js](javascript:alert(1))", "")  # not a link, left as text
    assert "<img" not in html
    plain = render_html("# title\n\n<div style='x'>hi</div>")
    assert plain == "<p># title</p>\n<p>&lt;div style='x'&gt;hi&lt;/div&gt;</p>"


def test_mentions_are_unique_and_bounded():
    text = " ".join(f"@user{i:02d}" for i in range(15)) + " @user00 a@b.c"
    names = mentioned_usernames(text)
    assert names[0] == "user00" and len(names) == 10 and len(set(names)) == 10


def test_excerpt_flattens_markup():
    assert excerpt("**Hi** [there](https://x.y)\n\nfriend", 50) == "Hi there friend"
    assert excerpt("长" * 200, 10) == "长" * 9 + "…"
