import io

from PIL import Image


def _upload(client, member, data: bytes | io.BytesIO, name="photo.jpg"):
    payload = data if isinstance(data, io.BytesIO) else io.BytesIO(data)
    return client.post(
        "/api/v1/media", data={"file": (payload, name)}, headers=member.headers, content_type="multipart/form-data"
    )


def _fetch(client, url):
    """GET a file and close the streamed response so no file handle outlives the test."""
    response = client.get(url)
    response.get_data()
    response.close()
    return response


def _jpeg_with_gps_and_rotation() -> bytes:
    image = Image.new("RGB", (60, 20), (10, 120, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    exif[0x010F] = "SecretCam"  # camera make
    exif.get_ifd(0x8825)[1] = "N"  # GPS latitude ref
    exif.get_ifd(0x8825)[2] = (31.0, 14.0, 0.0)  # GPS latitude
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def test_upload_strips_exif_auto_orients_and_thumbnails(client, members):
    member = members.create()
    response = _upload(client, member, _jpeg_with_gps_and_rotation())
    assert response.status_code == 201
    body = response.get_json()
    assert (body["width"], body["height"]) == (20, 60)  # rotated upright
    assert body["mime"] == "image/jpeg"
    served = _fetch(client, body["url"])
    assert served.status_code == 200
    assert served.headers["Content-Type"] == "image/jpeg"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert b"SecretCam" not in served.data
    stored = Image.open(io.BytesIO(served.data))
    assert not stored.getexif()
    thumb = _fetch(client, body["thumb_url"])
    assert thumb.status_code == 200 and Image.open(io.BytesIO(thumb.data)).format == "JPEG"


def test_formats_are_recognised_by_content_not_name(client, members, png_bytes):
    member = members.create()
    assert _upload(client, member, png_bytes(), name="looks-like.jpg").get_json()["mime"] == "image/png"
    fake = _upload(client, member, b"<html><script>alert(1)</script></html>", name="evil.png")
    assert fake.status_code == 415 and fake.get_json()["error"]["code"] == "unsupported_image"
    bmp = io.BytesIO()
    Image.new("RGB", (4, 4)).save(bmp, "BMP")
    assert _upload(client, member, bmp.getvalue(), name="x.bmp").status_code == 415
    truncated = png_bytes().getvalue()[:60]
    assert _upload(client, member, truncated, name="cut.png").status_code in (415, 422)


def test_webp_and_animated_gif_are_accepted(client, members):
    member = members.create()
    webp = io.BytesIO()
    Image.new("RGB", (16, 16), (0, 255, 0)).save(webp, "WEBP")
    assert _upload(client, member, webp.getvalue(), "a.webp").get_json()["mime"] == "image/webp"
    gif = io.BytesIO()
    frames = [Image.new("RGB", (10, 10), color) for color in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    response = _upload(client, member, gif.getvalue(), "a.gif")
    assert response.status_code == 201
    served = Image.open(io.BytesIO(_fetch(client, response.get_json()["url"]).data))
    assert served.format == "GIF" and served.n_frames == 3


def test_decompression_bombs_and_oversized_files_are_413(app, client, members):
    member = members.create()
    bomb = io.BytesIO()
    Image.new("1", (20000, 20000)).save(bomb, "PNG")  # ~50 KB on disk, 400 megapixels decoded
    assert len(bomb.getvalue()) < 200_000
    response = _upload(client, member, bomb.getvalue(), "bomb.png")
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "image_too_many_pixels"
    previous = app.config["MAX_CONTENT_LENGTH"]
    app.config["MAX_CONTENT_LENGTH"] = 1000
    try:
        big = _upload(client, member, b"\xff" * 5000, "big.jpg")
    finally:
        app.config["MAX_CONTENT_LENGTH"] = previous
    assert big.status_code == 413 and big.get_json()["error"]["code"] == "payload_too_large"


def test_upload_needs_auth_multipart_and_a_file(client, members):
    member = members.create()
    assert client.post("/api/v1/media", data={}, content_type="multipart/form-data").status_code == 401
    assert client.post("/api/v1/media", json={"file": "x"}, headers=member.headers).status_code == 415
    missing = client.post(
        "/api/v1/media", data={"other": "x"}, headers=member.headers, content_type="multipart/form-data"
    )
    assert missing.status_code == 422
    assert client.get("/api/v1/media/98765").status_code == 404
