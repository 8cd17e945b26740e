import { FleetError } from '../runtime/errors.js';
import { IMAGE_BYTES, RECORD_BYTES, type Cifar10SplitName } from './cifar10-format.js';
import { manualInstallHint } from './install-hint.js';

const n = (x: number): string => x.toLocaleString('en-US');

/** A batch file whose size is not a whole number of 3,073-byte records. */
export class Cifar10FileSizeError extends FleetError {
  readonly records: number;
  readonly trailingBytes: number;
  constructor(
    readonly file: string,
    readonly size: number,
  ) {
    const records = Math.floor(size / RECORD_BYTES);
    const trailingBytes = size % RECORD_BYTES;
    super(
      size === 0
        ? `${file} is empty (0 bytes): expected a multiple of ${n(RECORD_BYTES)} bytes (1 label byte + ${n(IMAGE_BYTES)} pixel bytes per record)`
        : `${file} is ${n(size)} bytes, not a multiple of ${n(RECORD_BYTES)}: ${n(records)} whole records, then a partial record ${n(records)} ` +
            `of ${n(trailingBytes)} bytes at offset ${n(records * RECORD_BYTES)} (truncated download or not a CIFAR-10 binary file)`,
    );
    this.records = records;
    this.trailingBytes = trailingBytes;
  }
}

/** A record that cannot be a CIFAR-10 record; `offset` is its byte offset in `file`. */
export class CorruptRecordError extends FleetError {
  constructor(
    readonly file: string,
    readonly record: number,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`${file}: record ${n(record)} (byte offset ${n(offset)}) is corrupt: ${reason}`);
  }
}

/** A label byte outside 0-9. */
export class InvalidLabelError extends CorruptRecordError {
  constructor(
    file: string,
    record: number,
    offset: number,
    readonly value: number,
  ) {
    super(file, record, offset, `label byte is ${value}, expected 0-9`);
  }
}

/** Required batch files absent; the message says where they go and how to get them. */
export class MissingDataFilesError extends FleetError {
  constructor(
    readonly dir: string,
    readonly split: Cifar10SplitName,
    readonly missing: readonly string[],
    readonly present: readonly string[],
  ) {
    const what =
      split === 'train' && missing.length > 0 && present.length > 0
        ? `the ${split} split needs ${missing.join(', ')} (found only ${present.join(', ')})`
        : `the ${split} split needs ${missing.join(', ')}, not found`;
    super(`CIFAR-10 data missing in ${dir}: ${what}. ${manualInstallHint(dir, undefined, split)}`);
  }
}

/** batches.meta.txt that does not list exactly one name per class. */
export class ClassNamesError extends FleetError {
  constructor(
    readonly file: string,
    readonly count: number,
    readonly expected: number,
  ) {
    super(`${file} lists ${count} class names, expected ${expected} (one per line, in label order)`);
  }
}

/** An option the loader cannot honour, e.g. limit: 0. */
export class Cifar10OptionError extends FleetError {
  constructor(
    readonly option: string,
    readonly value: unknown,
    readonly expected: string,
  ) {
    super(`invalid ${option}: ${String(value)} (expected ${expected})`);
  }
}

export type DownloadStage = 'connect' | 'http' | 'transfer' | 'extract';

/** Download or install failed; the message always ends with how to install by hand. */
export class Cifar10DownloadError extends FleetError {
  constructor(
    readonly url: string,
    readonly dir: string,
    readonly stage: DownloadStage,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`could not download CIFAR-10 from ${url} (${stage}): ${reason}. ${manualInstallHint(dir, url)}`, options);
  }
}

/** The downloaded archive is not the one expected; it has been deleted. */
export class ChecksumMismatchError extends FleetError {
  constructor(
    readonly url: string,
    readonly expected: string,
    readonly got: string,
    readonly bytes: number,
  ) {
    super(
      `MD5 mismatch for ${url}: expected ${expected}, got ${got} (${n(bytes)} bytes); ` +
        `the download was corrupt or the server sent a different file, and it has been deleted`,
    );
  }
}
