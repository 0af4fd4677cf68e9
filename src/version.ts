/** The sProx version, printed by `sprox --version` and exported as a metric label. */
export const VERSION = "0.1.0";
