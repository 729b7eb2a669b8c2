/** One thing that happened, as operators are told of it. Ids rise; a reconnecting client asks for those after the last it saw. */
export type OperatorEvent = { id: number; at: string; topic: EventTopic; type: string; data: Record<string, unknown> };

export const eventTopics = ['titles', 'streams', 'sessions', 'ingest'] as const;
export type EventTopic = (typeof eventTopics)[number];

/** Someone listening: told of each event of the topics it asked for. */
export type EventListener = { topics: ReadonlySet<EventTopic>; deliver(event: OperatorEvent): void };

/**
 * The operator's event stream: title and stream changes, encode progress, session starts and
 * ends, live ingest statistics. The newest `replay` events are kept so a client that reconnects
 * can ask for what it missed (bounded: older ones are gone, and it is told so).
 */
export class EventHub {
  private readonly recent: OperatorEvent[] = [];
  private readonly listeners = new Set<EventListener>();
  private nextId = 1;

  constructor(private readonly options: { replay: number; now: () => number }) {}

  publish(topic: EventTopic, type: string, data: Record<string, unknown>): OperatorEvent {
    const event: OperatorEvent = { id: this.nextId++, at: new Date(this.options.now()).toISOString(), topic, type, data };
    this.recent.push(event);
    if (this.recent.length > this.options.replay) this.recent.shift();
    for (const listener of this.listeners) if (listener.topics.has(topic)) listener.deliver(event);
    return event;
  }

  /**
   * Listens from now on, after delivering the kept events after `afterId` (when given). `complete`
   * is false when events after it were already let go: the client missed some.
   */
  listen(listener: EventListener, afterId: number | null): { complete: boolean; stop: () => void } {
    let complete = true;
    if (afterId !== null) {
      const oldest = this.recent[0]?.id ?? this.nextId;
      complete = afterId >= oldest - 1;
      for (const event of this.recent) if (event.id > afterId && listener.topics.has(event.topic)) listener.deliver(event);
    }
    this.listeners.add(listener);
    return { complete, stop: () => this.listeners.delete(listener) };
  }

  get listening(): number {
    return this.listeners.size;
  }
}
