/** The `sprox --help` text. */
export const USAGE = `sProx — a streaming proxy for HTTP video delivery

Usage:
  sprox [serve] [-c <dir|file>]        start the proxy (default command)
  sprox validate -c <dir|file>         validate a configuration and print a summary
  sprox healthcheck [--url <url> | -c <dir|file>] [--timeout-ms <ms>]
                                       exit 0 when <url> answers 200, 1 otherwise (saying
                                       why); without --url, /health on the configuration's
                                       first listener
  sprox --help | --version

Options:
  -c, --config <dir|file>   configuration file, or a directory holding routes.yaml
                            (default: $SPROX_CONFIG, else config/routes.yaml)

Exit codes: 0 success, 1 failure (invalid config, unhealthy), 2 misuse.
`;
