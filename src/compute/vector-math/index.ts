export { VectorMemory, axpy, firstNonFiniteWord, scale, sgdStep, vectorMemoryOf } from './vector-memory.js';
export { floatsToHalves, halvesToFloats, type HalfFormat } from './half-kernels.js';
