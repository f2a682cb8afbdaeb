// Where training data comes from: one file (a CSV/TSV/JSONL table, or a .zip of class folders)
// or a folder of class folders, picked with <input webkitdirectory> or dropped (read through
// FileSystemEntry). A folder ends as { name, files: [[relative path, File]] }: app.js reads the
// files' bytes for the worker and keeps the Files themselves as Blobs for thumbnails. Which files
// are images, and which folders are classes, the core decides (its data report says why a file
// was left out), so nothing is filtered here.

import { listDirectory } from './model-source.js';

/** A path as the core names an image (crate/src/vision/dataset.rs `from_entries`): `/`-separated,
 *  without empty or `.` parts. Keys of the page's name → Blob map. */
export const imageKey = (path) => path.replaceAll('\\', '/').split('/').filter((p) => p && p !== '.').join('/');

/** Paths relative to the folder itself, as the native runner lists a folder: its class folders
 *  come first, and a stray file beside them is reported as not in a class folder. */
const inside = (files, root) => files.map(([path, file]) => [path.startsWith(`${root}/`) ? path.slice(root.length + 1) : path, file]);

/** A folder from an <input webkitdirectory> FileList (paths start with the folder's name). */
export function readPickedImages(fileList) {
  const all = [...fileList];
  const first = all[0]?.webkitRelativePath || '';
  const name = first.includes('/') ? first.split('/')[0] : 'picked files';
  return { name, files: inside(all.map((f) => [f.webkitRelativePath || f.name, f]), name) };
}

/** What a drop holds: `{ file }` for one file (a table or a zip), else `{ folder }` with every
 *  file under the dropped folders (and loose files). Call it synchronously from the drop handler:
 *  the DataTransfer goes stale after. */
export function readDroppedData(dataTransfer) {
  const items = [...dataTransfer.items].filter((item) => item.kind === 'file');
  const entries = items.map((item) => item.webkitGetAsEntry?.()).filter(Boolean);
  const loose = [...dataTransfer.files];
  return (async () => {
    if (!entries.some((e) => e.isDirectory)) {
      if (loose.length === 1) return { file: loose[0] };
      if (!loose.length) throw new Error('nothing to read in the drop: drop a data file, a zip, or a folder of class folders');
    }
    const files = [];
    await walk(entries, files);
    // One folder dropped: it is the root. Several things: the drop is (its class folders).
    const one = entries.length === 1 && entries[0].isDirectory ? entries[0].name : null;
    return { folder: one ? { name: one, files: inside(files, one) } : { name: 'dropped files', files } };
  })();
}

/** Every file under `entries`, depth first, as [path relative to the drop, File]. */
async function walk(entries, out, depth = 0) {
  for (const entry of entries) {
    if (entry.isFile) {
      const file = await new Promise((ok, fail) => entry.file(ok, fail));
      out.push([entry.fullPath.replace(/^\/+/, ''), file]);
    } else if (entry.isDirectory && depth < 16) {
      await walk(await listDirectory(entry), out, depth + 1);
    }
  }
}
