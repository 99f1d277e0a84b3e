/**
 * Schemas shared by every route: the error envelope and common parameters. Route files keep their
 * own resource schemas; only what several resources share lives here.
 */
import { t } from 'elysia'

/** The JSON error envelope of every non-2xx JSON response (see src/errors.ts). */
export const ErrorSchema = t.Object(
  {
    error: t.Object({
      code: t.String({ description: 'Stable snake_case code', examples: ['not_found'] }),
      message: t.String({ examples: ['user 42 does not exist'] }),
      requestId: t.String({ examples: ['k3x9q2-1a'] }),
      details: t.Optional(t.Unknown()),
    }),
  },
  { description: 'Error envelope' },
)

/** A positive integer id in the path, as a string Elysia coerces (non-numeric -> 422). */
export const IdParams = t.Object({ id: t.Numeric({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, examples: [1] }) })
