// The part of pngjs fleet uses (the package ships no types): PNG decoding to 8-bit RGBA.
declare module 'pngjs' {
  export const PNG: {
    new (options: { width: number; height: number }): { width: number; height: number; data: Buffer };
    sync: {
      read(buffer: Buffer): { width: number; height: number; data: Buffer };
      write(png: { width: number; height: number; data: Buffer }): Buffer;
    };
  };
}
