import * as fs from 'node:fs';

/**
 * Peak resident memory. On Linux the high-water mark (VmHWM) can be reset by writing 5 to
 * /proc/self/clear_refs, which lets one process measure several models one after another.
 */

export function resetPeakRss(): boolean {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

export function peakRssBytes(): number {
  try {
    const status = fs.readFileSync('/proc/self/status', 'utf8');
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux: fall through to the process-lifetime maximum
  }
  return process.resourceUsage().maxRSS * 1024;
}
