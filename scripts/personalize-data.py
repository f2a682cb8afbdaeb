"""Builds the personalisation benchmark's files from banking77 (../shared/data/banking77):
10 classes drawn with a fixed seed become "new"; base_train.csv has the other 67 classes' training
rows, new.csv 10 training rows of each new class, test.csv the whole test set (old and new).
usage: python3 scripts/personalize-data.py SHARED_BANKING77_DIR OUT_DIR [NEW_CLASSES] [PER_CLASS]"""
import csv
import os
import random
import sys

src, out = sys.argv[1], sys.argv[2]
n_new = int(sys.argv[3]) if len(sys.argv) > 3 else 10
per_class = int(sys.argv[4]) if len(sys.argv) > 4 else 10
os.makedirs(out, exist_ok=True)


def rows(name):
    with open(os.path.join(src, name), newline="", encoding="utf-8") as f:
        r = csv.reader(f)
        header = next(r)
        return header, [row for row in r if len(row) == 2]


header, train = rows("train.csv")
_, test = rows("test.csv")
classes = sorted({label for _, label in train})
new = sorted(random.Random(0).sample(classes, n_new))
rng = random.Random(1)
by_class = {c: [row for row in train if row[1] == c] for c in new}
picked = []
for c in new:
    rng.shuffle(by_class[c])
    picked += by_class[c][:per_class]


def write(name, data):
    with open(os.path.join(out, name), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(data)


write("base_train.csv", [row for row in train if row[1] not in new])
write("new.csv", picked)
write("test.csv", test)
print(",".join(new))
