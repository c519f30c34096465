/** fsync of a directory, so a rename into it survives a power cut (POSIX: the entry lives in the directory). */
import { closeSync, fsyncSync, openSync } from 'node:fs';

export function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
