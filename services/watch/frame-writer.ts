/** Writes each frame over the previous one: cursor up its line count, clear to the end of the screen. */
export function frameWriter(out: NodeJS.WritableStream): (text: string) => void {
  let previousLines = 0;
  return (text) => {
    out.write(`${previousLines > 0 ? `\x1b[${previousLines}F\x1b[J` : ''}${text}\n`);
    previousLines = text.split('\n').length;
  };
}
