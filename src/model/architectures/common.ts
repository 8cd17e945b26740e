/** What every architecture builder receives (buildModel fills in the defaults). */
export interface ArchitectureOptions {
  seed: number;
  numClasses: number;
  inputShape: [number, number, number];
}
