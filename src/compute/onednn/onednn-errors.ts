import { FleetError } from '../../runtime/errors.js';
import { onednnLoadError } from './addon.js';

/** A oneDNN function was called where the addon is not built or did not load. */
export class OnednnUnavailableError extends FleetError {
  readonly reason: string;

  constructor() {
    const reason = onednnLoadError() ?? 'the oneDNN addon did not load';
    super(`native oneDNN kernels unavailable: ${reason}`);
    this.reason = reason;
  }
}
