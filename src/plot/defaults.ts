/**
 * Chart defaults, apart from chart.ts so that the CLI can show them without loading vega
 * (which costs every `aheadfs` command ~0.3 s at start-up).
 */

/** Default `maxWindows`: enough to see the ramp-up and the steady state. */
export const PLOT_MAX_WINDOWS = 100;
