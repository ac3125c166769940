"""The staff console (/console): one page, in Chinese, for moderators, operators, product and fulfilment teams.

It is a client of the public API like the mini-program: the browser signs in with /api/v1/auth/login, keeps the
tokens in memory only (never in storage or cookies, so nothing outlives the tab and no request is sent with
ambient credentials), and calls the same endpoints with them. The API's authorisation is therefore the console's:
a panel the member's role may not read shows the API's refusal. Members who are not staff are turned away at
sign-in and their new session is ended. Charts use Chart.js, served from here (no CDN).
"""

from flask import Blueprint, Response, make_response, render_template

# Scripts and styles from this origin only, no inline code; the API is the only thing it talks to.
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
    "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

console = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)


@console.get("/")
def page() -> Response:
    response = make_response(render_template("console.html"))
    response.headers["Content-Security-Policy"] = POLICY
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response
