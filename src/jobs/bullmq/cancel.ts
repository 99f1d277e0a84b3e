/**
 * The cancel channel: `DELETE /jobs/:id` on any node reaches the node running the job.
 *
 * BullMQ's `worker.cancelJob` only reaches jobs of its own process (bullmq#3768, open), and
 * BullMQ 6's `Relay` is marked experimental. So a cancel is published as a custom event on the
 * queue's own event stream (`QueueEventsProducer.publishEvent`), which every node already reads
 * through its `QueueEvents` for SSE (fanout.ts): the same path on Redis and on PostgreSQL, no
 * extra connection. Each node aborts the job if it runs it (the processor then fails it with
 * `job_canceled`) and refreshes the job's SSE subscribers.
 *
 * @example
 * ```ts
 * const channel = new CancelChannel(producer, queueEvents, (id) => { worker.cancelJob(id, CANCEL_REASON); fanout.refresh(id) })
 * await channel.publish(id)
 * ```
 */
import type { QueueEvents, QueueEventsProducer } from 'bullmq'

/** The custom event's name on the queue's event stream. */
export const CANCEL_EVENT = 'highperf:cancel'

/** Publishes and receives cancels (see the module comment). */
export class CancelChannel {
  readonly #producer: QueueEventsProducer

  constructor(producer: QueueEventsProducer, queueEvents: QueueEvents, onCancel: (id: string) => void) {
    this.#producer = producer
    // A custom event name: QueueEvents' typed listener map does not list it.
    ;(queueEvents as unknown as { on(name: string, fn: (args: { jobId?: string }) => void): void }).on(CANCEL_EVENT, (args) => {
      if (typeof args.jobId === 'string') onCancel(args.jobId)
    })
  }

  /** Tells every node (this one included) that job `id` is canceled. */
  async publish(id: string): Promise<void> {
    await this.#producer.publishEvent({ eventName: CANCEL_EVENT, jobId: id })
  }
}
