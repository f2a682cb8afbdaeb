"""Golden values for edgetune's image input processing (crate/src/vision), computed with Pillow and
torchvision, the pipeline a PyTorch reference uses: `Image.open(f).convert("RGB")`, then either
`img.resize((32, 32), Image.BILINEAR)` or torchvision's `Resize(32)` + `CenterCrop(32)`.

Re-run from the repository root with the venv from `bash scripts/setup-python.sh`:
    $(bash scripts/setup-python.sh) tests/golden/make_preprocess_golden.py
It (re)writes a few tiny, deterministic test images into tests/golden/images/ (plus a copy of one real
digit from ../shared/data/digits, when present) and tests/golden/preprocess.json with, per image:
- `resize`: Pillow's resize to 32×32, flattened RGB (row-major HWC, u8);
- `center_crop`: torchvision Resize(32) + CenterCrop(32), flattened the same way;
- `resizes`: more Pillow resizes (upscale, one dimension only; up to 2,500 pixels) as {width, height, rgb};
- `decoded`: Pillow's decoded RGB for the small lossless images (JPEG decoders may differ by a level).
The vision module's `pillow_parity` test compares them with edgetune's.
"""
import io, json, os, shutil
import numpy as np
import PIL
import torchvision
from PIL import Image
from torchvision import transforms

OUT = "tests/golden/images"
SIZE = 32
os.makedirs(OUT, exist_ok=True)
rng = np.random.RandomState(0)


def save(name, img, **kw):
    img.save(os.path.join(OUT, name), **kw)


# 37×23 RGB: gradients plus noise (downscale in both directions, non-integer factors).
y, x = np.mgrid[0:23, 0:37]
grad = np.stack([x * 255 / 36, y * 255 / 22, (x + y) * 255 / 58], -1) + rng.normal(0, 20, (23, 37, 3))
save("gradient_37x23.png", Image.fromarray(np.clip(grad, 0, 255).round().astype(np.uint8), "RGB"))

# 8×8 greyscale like sklearn's digits: levels 0..16 scaled to 0..255 (upscale ×4).
levels = rng.randint(0, 17, (8, 8))
save("digit_like_8x8.png", Image.fromarray((levels * 255 / 16).round().astype(np.uint8), "L"))

# 300×200 photo-like JPEG (quality 90, Pillow's default 4:2:0 chroma subsampling).
y, x = np.mgrid[0:200, 0:300]
photo = np.stack(
    [
        128 + 100 * np.sin(x / 23.0) * np.cos(y / 31.0),
        128 + 90 * np.cos((x + y) / 40.0),
        (x * 0.6 + y * 0.4) % 256,
    ],
    -1,
) + rng.normal(0, 6, (200, 300, 3))
save("photo_300x200.jpg", Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8), "RGB"), quality=90)

# 20×45 RGBA (portrait: CenterCrop keeps the middle rows; alpha is dropped by convert("RGB")).
rgba = rng.randint(0, 256, (45, 20, 4)).astype(np.uint8)
save("rgba_20x45.png", Image.fromarray(rgba, "RGBA"))

# 16×12 palette GIF and a 10×7 BMP.
pal = Image.fromarray(rng.randint(0, 256, (12, 16, 3)).astype(np.uint8), "RGB").quantize(colors=16)
save("palette_16x12.gif", pal)
save("bmp_10x7.bmp", Image.fromarray(rng.randint(0, 256, (7, 10, 3)).astype(np.uint8), "RGB"))

# One real digit (8×8 greyscale PNG), when the shared data sets are beside the repository.
digit = "../shared/data/digits/images/3/0003.png"
if os.path.exists(digit):
    shutil.copyfile(digit, os.path.join(OUT, "digits_3_0003.png"))
NAMES = [
    "gradient_37x23.png", "digit_like_8x8.png", "photo_300x200.jpg", "rgba_20x45.png",
    "palette_16x12.gif", "bmp_10x7.bmp", "digits_3_0003.png",
]

center = transforms.Compose(
    [transforms.Resize(SIZE, interpolation=transforms.InterpolationMode.BILINEAR), transforms.CenterCrop(SIZE)]
)


def flat(img):
    return np.asarray(img, dtype=np.uint8).reshape(-1).tolist()


images = []
for name in [n for n in NAMES if os.path.exists(os.path.join(OUT, n))]:
    with open(os.path.join(OUT, name), "rb") as f:
        img = Image.open(io.BytesIO(f.read())).convert("RGB")
    w, h = img.size
    entry = {
        "file": name,
        "width": w,
        "height": h,
        "resize": flat(img.resize((SIZE, SIZE), Image.BILINEAR)),
        "center_crop": flat(center(img)),
        "resizes": [
            {"width": rw, "height": rh, "rgb": flat(img.resize((rw, rh), Image.BILINEAR))}
            for rw, rh in [(w, SIZE), (SIZE, h), (2 * w + 3, 3 * h - 1), (max(1, w // 3), max(1, h // 5))]
            if rw * rh <= 2500  # keeps the file small
        ],
    }
    if not name.endswith(".jpg"):
        entry["decoded"] = flat(img)
    images.append(entry)

golden = {
    "script": "tests/golden/make_preprocess_golden.py",
    "pillow": PIL.__version__,
    "torchvision": torchvision.__version__,
    "size": SIZE,
    "images": images,
}
with open("tests/golden/preprocess.json", "w") as f:
    json.dump(golden, f, separators=(",", ":"))
    f.write("\n")
print("wrote", len(images), "images,", sum(os.path.getsize(os.path.join(OUT, e["file"])) for e in images), "bytes")
