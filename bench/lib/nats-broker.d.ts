// Types of the parts of nats-broker.js that the tests share (test/helpers/nats-broker.ts).
/** The nats-server executable, or undefined when this machine has none. */
export function findNatsServer(): string | undefined
/** A free TCP port on 127.0.0.1, as the system hands it out. */
export function freePort(): Promise<number>
