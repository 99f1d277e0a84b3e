// The JobService contract (service-suite.ts) on BullJobs over BullMQ's PostgreSQL backend (127.0.0.1:5432, database test).
import { bullBackend, PG_URL } from './bull-backend.ts'
import { runJobServiceSuite } from './service-suite.ts'

runJobServiceSuite(bullBackend(PG_URL, 'BullMQ on PostgreSQL', 30_000))
