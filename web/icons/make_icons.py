"""Draw the app's PNG icons (the same picture as web/icon.svg: sky, sun, green hills, on the
page's dark background). Run once when the picture changes; the PNGs are committed.

    .venv/bin/python web/icons/make_icons.py

"maskable" icons keep the picture inside the central 80% safe zone, since launchers crop them
to circles or rounded squares.
"""

from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
BG, SKY, GRASS, SUN = "#101317", "#06e6e6", "#04c803", "#ffc857"


def draw(size: int, maskable: bool) -> Image.Image:
    scale = 4  # drawn large, then reduced: smooth edges
    s = size * scale
    image = Image.new("RGB", (s, s), BG)
    d = ImageDraw.Draw(image)
    # The SVG's 64x64 layout, inset to the safe zone for maskable icons.
    inset = 0.1 if maskable else 0.0

    def p(x, y):
        return (s * (inset + (1 - 2 * inset) * x / 64), s * (inset + (1 - 2 * inset) * y / 64))

    u = s * (1 - 2 * inset) / 64
    if not maskable:  # rounded square as in the SVG; maskable icons fill the whole square
        image = Image.new("RGBA", (s, s), (0, 0, 0, 0))
        d = ImageDraw.Draw(image)
        d.rounded_rectangle([0, 0, s - 1, s - 1], radius=12 * u, fill=BG)
    d.rounded_rectangle([*p(8, 8), *p(56, 30)], radius=4 * u, fill=SKY)
    d.polygon(
        [p(8, 40), p(26, 22), p(38, 34), p(46, 26), p(56, 36), p(56, 56), p(8, 56)], fill=GRASS
    )
    cx, cy = p(46, 18)
    d.ellipse([cx - 6 * u, cy - 6 * u, cx + 6 * u, cy + 6 * u], fill=SUN)
    return image.resize((size, size), Image.LANCZOS)


if __name__ == "__main__":
    for size in (192, 512):
        draw(size, maskable=False).save(HERE / f"icon-{size}.png", optimize=True)
    draw(512, maskable=True).save(HERE / "maskable-512.png", optimize=True)
