// The JobService contract (service-suite.ts) on BullJobs over Redis (127.0.0.1:6379).
import { bullBackend, REDIS_URL } from './bull-backend.ts'
import { runJobServiceSuite } from './service-suite.ts'

runJobServiceSuite(bullBackend(REDIS_URL, 'BullMQ on Redis', 15_000))
