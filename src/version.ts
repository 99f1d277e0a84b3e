/** highperf's version, read from package.json at build time (the compiled binary embeds it). */
import pkg from '../package.json' with { type: 'json' }

/** The semantic version of this build, e.g. `0.1.0`. */
export const VERSION: string = pkg.version

/** The `Server` header value: `highperf/<version>`. */
export const SERVER_NAME = `highperf/${VERSION}`
