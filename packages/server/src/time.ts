/** Time units in milliseconds, for the services' time windows and the console's ranges. */
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
