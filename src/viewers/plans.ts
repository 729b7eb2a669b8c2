/** A subscription plan: what a viewer on it may watch, on how many screens, how sharp. */
export type Plan = {
  id: string;
  name: string;
  /** Playback sessions a viewer may hold at once. */
  maxStreams: number;
  /** Devices a viewer may have signed in. */
  maxDevices: number;
  /** The tallest video rendition (in lines) the plan's sessions are given. */
  maxHeight: number;
  /** Content packages the plan includes (content in the `free` package needs no plan). */
  packages: string[];
};

/** The plans a fresh install starts with (editable through the admin API). */
export const defaultPlans: readonly Plan[] = [
  { id: 'basic', name: 'Basic', maxStreams: 1, maxDevices: 2, maxHeight: 720, packages: ['standard'] },
  { id: 'standard', name: 'Standard', maxStreams: 2, maxDevices: 5, maxHeight: 1080, packages: ['standard'] },
  { id: 'premium', name: 'Premium', maxStreams: 4, maxDevices: 10, maxHeight: 2160, packages: ['standard', 'premium'] },
];

export const deviceFamilies = ['web', 'ios', 'tvos', 'android', 'androidtv', 'roku', 'tizen', 'webos', 'other'] as const;
export type DeviceFamily = (typeof deviceFamilies)[number];
