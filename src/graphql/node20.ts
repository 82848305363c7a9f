/*
 * PostGraphile 5 declares Node ≥ 22 and calls Promise.withResolvers (Node 22); on Node 20 every
 * query would fail. Loconomy supports Node 20 and later (decision 0025): this polyfill, which
 * behaves as the built-in, is installed before PostGraphile is loaded; CI runs the GraphQL tests
 * on Node 20 and on Node 22 without it.
 */
declare global {
  interface PromiseConstructor {
    withResolvers<T>(): {
      promise: Promise<T>;
      resolve: (value: T | PromiseLike<T>) => void;
      reject: (reason?: unknown) => void;
    };
  }
}

if (typeof (Promise as { withResolvers?: unknown }).withResolvers !== 'function') {
  Promise.withResolvers = <T>() => {
    let resolve!: (value: T | PromiseLike<T>) => void;
    let reject!: (reason?: unknown) => void;
    const promise = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

// Grafast asks for GRAPHILE_ENV on stderr when it is unset; NODE_ENV decides it here.
process.env.GRAPHILE_ENV ??= process.env.NODE_ENV === 'production' ? 'production' : 'development';

export {};
