export { VectorMemory, axpy, firstNonFiniteWord, scale, sgdStep, vectorMemoryOf } from './vector-memory.js';
