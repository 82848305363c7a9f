import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';

/*
 * A document's walk-through, run as written: every ```js walkthrough block, in order, as one async
 * function whose free names the test gives (the people's clients, `assert`, …). An HTML comment
 * `<!-- walkthrough: <event> -->` between blocks marks what the story cannot do through the API
 * (time passing, Stripe acting); the test's handler for that event runs there. A snippet that no
 * longer matches the API fails, so the doc cannot drift from what runs.
 */

type Step = { code: string } | { event: string };

async function steps(doc: string): Promise<Step[]> {
  const text = await readFile(doc, 'utf8');
  return [...text.matchAll(/^```js walkthrough\n([\s\S]*?)^```$|^<!-- walkthrough: (.+?) -->$/gm)].map((m) =>
    m[2] ? { event: m[2] } : { code: m[1] as string },
  );
}

export async function runWalkthrough(
  doc: string,
  names: Record<string, unknown>,
  events: Record<string, () => Promise<void>>,
): Promise<void> {
  const all = await steps(doc);
  assert.ok(all.filter((step) => 'code' in step).length >= 5, `${doc} has its walk-through snippets`);
  const code = all
    .map((step) => {
      if ('code' in step) return step.code;
      assert.ok(events[step.event], `the test knows the walk-through event "${step.event}"`);
      return `await events[${JSON.stringify(step.event)}]();`;
    })
    .join('\n');
  const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor;
  const story = new AsyncFunction(...Object.keys(names), 'assert', 'events', code);
  await story(...Object.values(names), assert, events);
}
