/**
 * The first layers: 'cifar' = 3x3 stride-1 conv, no max-pool (the CIFAR
 * adaptation); 'imagenet' = torchvision's 7x7 stride-2 conv + 3x3 stride-2
 * max-pool; 'imagenet-conv1' = the 7x7 conv at stride 1, no max-pool (keeps
 * pretrained conv1 weights at CIFAR resolution). Only the ResNets use it.
 */
export type StemKind = 'cifar' | 'imagenet' | 'imagenet-conv1';

/** What every architecture builder receives (buildModel fills in the defaults). */
export interface ArchitectureOptions {
  seed: number;
  numClasses: number;
  inputShape: [number, number, number];
  /** ResNet stem; 'cifar' when absent. */
  stem?: StemKind;
}
