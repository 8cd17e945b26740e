import * as tf from '@tensorflow/tfjs';

import { FleetError } from '../../runtime/errors.js';

/** The parts of a 2-D NHWC convolution our gradient kernels need. */
export interface ConvGeometry {
  batch: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outHeight: number;
  outWidth: number;
  outChannels: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  padTop: number;
  padLeft: number;
}

export type ConvPad = 'same' | 'valid' | number | number[][];

/** The attributes tfjs hands both convolution-gradient kernels. */
export interface ConvBackpropAttrs {
  strides: number | [number, number];
  pad: ConvPad;
  dataFormat?: string;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/** Thrown for convolution settings the wasm gradient kernels do not cover. */
export class UnsupportedConvError extends FleetError {
  constructor(
    readonly kernel: string,
    readonly reason: string,
  ) {
    super(`${kernel} on wasm: ${reason}`);
  }
}

export function convGeometry(
  kernel: string,
  xShape: number[],
  filterShape: number[],
  strides: number | [number, number],
  pad: ConvPad,
  dataFormat: string | undefined,
  dimRoundingMode: 'floor' | 'round' | 'ceil' | undefined,
): ConvGeometry {
  if (dataFormat !== undefined && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') {
    throw new UnsupportedConvError(kernel, `dataFormat ${dataFormat} (only NHWC)`);
  }
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    1,
    pad as 'same',
    dimRoundingMode,
    false,
    'channelsLast',
  );
  return {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    inChannels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    outChannels: info.outChannels,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}
