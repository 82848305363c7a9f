import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { type FormObject, type FormValue, parseForm } from './form.js';

/*
 * A local HTTP double of the Stripe API, for tests: the official SDK is pointed at it (its
 * host/port/protocol options, LOCONOMY_STRIPE_API_URL) and talks to it over real HTTP.
 *
 * Scope — what Loconomy's payments use, with Stripe's behaviour where tests depend on it:
 * - the wire: form-encoded requests in bracket notation, JSON answers, Stripe's error shape
 *   (`{error: {type, code, decline_code, message, param}}`, 400/401/402/404), `Request-Id`,
 *   the bearer secret key checked on every call, and Idempotency-Key on POSTs (same key and same
 *   body → the stored answer again, with `Idempotent-Replayed: true`; same key and another body →
 *   400 idempotency_error), keys scoped by Stripe-Account as Stripe scopes them;
 * - Connect: Express accounts (create, retrieve, update), account links whose URL the test (or a
 *   browser) visits to finish onboarding, login links; `updateAccount` changes requirements and
 *   capabilities as Stripe would after review;
 * - customers, payment methods (the test cards and `pm_card_*` ids below), SetupIntents,
 *   PaymentIntents with manual capture (requires_action for 3-D Secure cards until the test
 *   completes the action, off-session authentication_required, declines, partial capture with
 *   amount_to_capture, cancel), destination charges (application fee and transfer objects), and
 *   refunds with refund_application_fee and reverse_transfer (proportional, as Stripe does);
 * - disputes, transfer reversals and payouts (decision 0023, slice 4): `dispute()` disputes a
 *   captured charge (a chargeback with its funds withdrawn and Stripe's 15.00 dispute fee as a
 *   balance transaction, or an inquiry without), `updateDispute()` / `closeDispute()` move it
 *   (won reinstates the funds, the fee stays), GET /v1/disputes/:id; POST
 *   /v1/transfers/:id/reversals (idempotent like every POST; refused with `balance_insufficient`
 *   when the connected account's balance cannot cover it — the double keeps a balance per
 *   connected account and currency: transfers credit it, reversals and payouts debit it, a failed
 *   or cancelled payout credits it back); `payout()` makes an automatic payout of a connected
 *   account and `payoutStatus()` moves it (in_transit, paid, failed with a failure code,
 *   canceled), GET /v1/payouts/:id only with that account's Stripe-Account header;
 * - saved cards (slice 5): a customer's invoice_settings.default_payment_method (set only to a
 *   card attached to it, cleared when that card is detached), cards whose saving succeeds but
 *   whose charges fail (pm_card_chargeCustomerFail), and in the block "Saved cards" below the
 *   card updater (`updateCard`) and builders of setup_intent.* and payment_method.* events;
 * - events: `event()` builds a Stripe Event, `deliver()` POSTs it to a webhook URL signed with
 *   the real algorithm (`stripe.webhooks.generateTestHeaderString`), and the test decides order,
 *   duplicates, delays and tampering.
 *
 * - billing: products, prices with lookup keys, subscriptions (trials, default_incomplete,
 *   prorations, cancel at period end, renewal and failed renewal through `advanceSubscription`),
 *   invoices with lines and the PaymentIntent that pays them, Billing Meters and meter events (its
 *   own block below lists the rest);
 * - lists for the reconciler: accounts, refunds, disputes, a connected account's payouts, invoices,
 *   meters and a meter's event summary for a customer, and a customer's payment methods, with
 *   Stripe's cursor pagination and `created` filters;
 * Not modelled: search, lists other than those (and prices by lookup key, an invoice's lines), the
 * platform's balance, pending vs available funds, dispute evidence — later slices add what they
 * need. Amounts are not checked against currencies' minimums. Everything lives in memory for the life of the double.
 */

export type Obj = Record<string, unknown>;

/** An error Stripe would answer with. */
export class StripeDoubleError extends Error {
  constructor(
    readonly status: number,
    readonly body: Obj,
  ) {
    super(String(body.message));
  }
}

const invalid = (message: string, extra: Obj = {}) =>
  new StripeDoubleError(400, { type: 'invalid_request_error', message, ...extra });
const missing = (kind: string, id: string, param = 'id') =>
  new StripeDoubleError(404, {
    type: 'invalid_request_error',
    code: 'resource_missing',
    message: `No such ${kind}: '${id}'`,
    param,
  });

/** How a test card behaves. */
type CardBehaviour =
  | 'succeeds'
  | 'authenticate'
  | 'authenticate_on_setup'
  | 'declined'
  | 'insufficient_funds'
  | 'charge_fails';
interface TestCard {
  readonly brand: string;
  readonly last4: string;
  readonly behaviour: CardBehaviour;
}

/** Stripe's test payment methods and tokens (docs.stripe.com/testing). */
const TEST_CARDS: Record<string, TestCard> = {
  pm_card_visa: { brand: 'visa', last4: '4242', behaviour: 'succeeds' },
  tok_visa: { brand: 'visa', last4: '4242', behaviour: 'succeeds' },
  pm_card_mastercard: { brand: 'mastercard', last4: '4444', behaviour: 'succeeds' },
  tok_mastercard: { brand: 'mastercard', last4: '4444', behaviour: 'succeeds' },
  // 4000 0027 6000 3184: 3-D Secure on every payment, even when set up.
  pm_card_authenticationRequired: { brand: 'visa', last4: '3184', behaviour: 'authenticate' },
  pm_card_threeDSecure2Required: { brand: 'visa', last4: '3184', behaviour: 'authenticate' },
  tok_threeDSecure2Required: { brand: 'visa', last4: '3184', behaviour: 'authenticate' },
  // 4000 0025 0000 3155: 3-D Secure unless set up for off-session use.
  pm_card_authenticationRequiredOnSetup: { brand: 'visa', last4: '3155', behaviour: 'authenticate_on_setup' },
  tok_authenticationRequiredOnSetup: { brand: 'visa', last4: '3155', behaviour: 'authenticate_on_setup' },
  pm_card_chargeDeclined: { brand: 'visa', last4: '0002', behaviour: 'declined' },
  pm_card_visa_chargeDeclined: { brand: 'visa', last4: '0002', behaviour: 'declined' },
  tok_chargeDeclined: { brand: 'visa', last4: '0002', behaviour: 'declined' },
  pm_card_chargeDeclinedInsufficientFunds: { brand: 'visa', last4: '9995', behaviour: 'insufficient_funds' },
  tok_chargeDeclinedInsufficientFunds: { brand: 'visa', last4: '9995', behaviour: 'insufficient_funds' },
  // 4000 0000 0000 0341: saving it (SetupIntent, attach) succeeds, every charge is declined.
  pm_card_chargeCustomerFail: { brand: 'visa', last4: '0341', behaviour: 'charge_fails' },
  tok_chargeCustomerFail: { brand: 'visa', last4: '0341', behaviour: 'charge_fails' },
};

const CURRENCY_BY_COUNTRY: Record<string, string> = {
  US: 'usd',
  GB: 'gbp',
  CA: 'cad',
  AU: 'aud',
  JP: 'jpy',
  CH: 'chf',
  FR: 'eur',
  DE: 'eur',
  ES: 'eur',
  IT: 'eur',
  NL: 'eur',
  IE: 'eur',
};

/** What a new Express account must still provide (a short version of Stripe's list). */
const ONBOARDING_REQUIREMENTS = [
  'business_type',
  'external_account',
  'individual.dob.day',
  'individual.first_name',
  'individual.last_name',
  'tos_acceptance.date',
];

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly params: FormObject;
  readonly idempotencyKey: string | undefined;
  readonly stripeAccount: string | undefined;
  readonly stripeVersion: string | undefined;
  readonly status: number;
}

export interface DeliveryOptions {
  /** Signing secret (default: the double's webhook secret). */
  readonly secret?: string;
  /** Signature timestamp in seconds (default: now); older than 300 s is stale. */
  readonly timestamp?: number;
  /** Changes the body after it was signed. */
  readonly tamper?: (body: string) => string;
  /** A Stripe-Signature header to send instead, or null to send none. */
  readonly signature?: string | null;
}

export interface DeliveryAnswer {
  readonly status: number;
  // biome-ignore lint/suspicious/noExplicitAny: a test reads whatever JSON came back
  readonly json: any;
}

type Handler = (params: FormObject, match: RegExpMatchArray, context: { account: string | undefined }) => Obj;

const now = () => Math.floor(Date.now() / 1000);
const clone = <T>(value: T): T => structuredClone(value);
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
function newId(prefix: string, length = 24): string {
  const bytes = randomBytes(length);
  let id = '';
  for (const b of bytes) id += ALNUM[b % ALNUM.length];
  return `${prefix}_${id}`;
}

function str(params: FormObject, name: string): string | undefined {
  const v = params[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalid(`Invalid string: ${name}`, { param: name });
  return v;
}
function int(params: FormObject, name: string): number | undefined {
  const v = str(params, name);
  if (v === undefined) return undefined;
  if (!/^-?[0-9]+$/.test(v)) throw invalid(`Invalid integer: ${v}`, { param: name, code: 'parameter_invalid_integer' });
  return Number(v);
}
function bool(params: FormObject, name: string): boolean | undefined {
  const v = str(params, name);
  if (v === undefined) return undefined;
  if (v !== 'true' && v !== 'false') throw invalid(`Invalid boolean: ${v}`, { param: name });
  return v === 'true';
}
function obj(params: FormObject, name: string): FormObject {
  const v = params[name];
  if (v === undefined || v === '') return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw invalid(`Invalid hash: ${name}`, { param: name });
  return v;
}
function required<T>(value: T | undefined, name: string): T {
  if (value === undefined) {
    throw invalid(`Missing required param: ${name}.`, { code: 'parameter_missing', param: name });
  }
  return value;
}
function metadata(params: FormObject, previous: Obj = {}): Obj {
  const given = obj(params, 'metadata');
  const merged: Obj = { ...previous };
  for (const [k, v] of Object.entries(given)) {
    if (v === '') delete merged[k];
    else merged[k] = v;
  }
  return merged;
}
function validUrl(value: string | undefined, name: string): string {
  const url = required(value, name);
  try {
    new URL(url);
  } catch {
    throw invalid(`Not a valid URL`, { param: name, code: 'url_invalid' });
  }
  return url;
}

export class StripeDouble {
  readonly secretKey: string;
  readonly webhookSecret: string;
  /** Every API request answered, in order. */
  readonly requests: RecordedRequest[] = [];
  readonly accounts = new Map<string, Obj>();
  readonly customers = new Map<string, Obj>();
  readonly paymentMethods = new Map<string, Obj>();
  readonly setupIntents = new Map<string, Obj>();
  readonly paymentIntents = new Map<string, Obj>();
  readonly charges = new Map<string, Obj>();
  readonly refunds = new Map<string, Obj>();
  readonly applicationFees = new Map<string, Obj>();
  readonly transfers = new Map<string, Obj>();
  readonly events = new Map<string, Obj>();
  // Disputes, transfer reversals, payouts and connected accounts' balances (slice 4).
  readonly disputes = new Map<string, Obj>();
  readonly transferReversals = new Map<string, Obj>();
  /** Payouts by id, each with the connected account it belongs to. */
  readonly payouts = new Map<string, { account: string; payout: Obj }>();
  private readonly balances = new Map<string, number>();
  readonly products = new Map<string, Obj>();
  readonly prices = new Map<string, Obj>();
  readonly subscriptions = new Map<string, Obj>();
  readonly invoices = new Map<string, Obj>();
  /** Billing: which invoice a PaymentIntent pays, and proration items waiting for a subscription's next invoice. */
  private readonly invoiceOfIntent = new Map<string, string>();
  private readonly pendingItems = new Map<string, Obj[]>();
  private invoiceSequence = 0;
  /** Billing Meters by event name, and the meter events received (identifier → event). */
  readonly meters = new Map<string, Obj>();
  readonly meterEvents = new Map<string, Obj>();
  private readonly cards = new Map<string, TestCard>();
  private readonly accountLinks = new Map<
    string,
    { account: string; returnUrl: string; refreshUrl: string; expiresAt: number; used: boolean }
  >();
  private readonly idempotency = new Map<string, { fingerprint: string; status: number; body: string }>();
  private readonly failures: { method: string; path: RegExp; status: number; error: Obj }[] = [];
  private readonly routes: [string, RegExp, Handler][];
  private readonly webhooks = new Stripe('sk_test_double').webhooks;
  private server!: Server;
  url = '';

  private constructor(options: { secretKey?: string; webhookSecret?: string }) {
    this.secretKey = options.secretKey ?? `sk_test_${newId('double').slice(7)}`;
    this.webhookSecret =
      options.webhookSecret ?? `whsec_${randomBytes(24).toString('base64url').replace(/[-_]/g, 'x')}`;
    this.routes = [
      ['POST', /^\/v1\/accounts$/, (p) => this.createAccount(p)],
      ['GET', /^\/v1\/accounts\/(acct_\w+)$/, (_p, m) => this.getAccount(m[1] as string)],
      ['POST', /^\/v1\/accounts\/(acct_\w+)$/, (p, m) => this.postAccount(m[1] as string, p)],
      ['POST', /^\/v1\/accounts\/(acct_\w+)\/login_links$/, (_p, m) => this.createLoginLink(m[1] as string)],
      ['POST', /^\/v1\/account_links$/, (p) => this.createAccountLink(p)],
      ['POST', /^\/v1\/customers$/, (p) => this.createCustomer(p)],
      ['GET', /^\/v1\/customers\/(cus_\w+)$/, (_p, m) => this.get(this.customers, 'customer', m[1] as string)],
      ['POST', /^\/v1\/customers\/(cus_\w+)$/, (p, m) => this.updateCustomer(m[1] as string, p)],
      [
        'GET',
        /^\/v1\/customers\/(cus_\w+)\/payment_methods$/,
        (p, m) => this.customerPaymentMethods(m[1] as string, p),
      ],
      ['POST', /^\/v1\/payment_methods$/, (p) => this.createPaymentMethod(p)],
      ['GET', /^\/v1\/payment_methods\/(pm_\w+)$/, (_p, m) => this.paymentMethod(m[1] as string)],
      ['POST', /^\/v1\/payment_methods\/(pm_\w+)\/attach$/, (p, m) => this.attach(m[1] as string, p)],
      ['POST', /^\/v1\/payment_methods\/(pm_\w+)\/detach$/, (_p, m) => this.detach(m[1] as string)],
      ['POST', /^\/v1\/setup_intents$/, (p) => this.createSetupIntent(p)],
      [
        'GET',
        /^\/v1\/setup_intents\/(seti_\w+)$/,
        (_p, m) => this.get(this.setupIntents, 'setupintent', m[1] as string),
      ],
      ['POST', /^\/v1\/setup_intents\/(seti_\w+)\/confirm$/, (p, m) => this.confirmSetupIntent(m[1] as string, p)],
      ['POST', /^\/v1\/setup_intents\/(seti_\w+)\/cancel$/, (_p, m) => this.cancelSetupIntent(m[1] as string)],
      ['POST', /^\/v1\/payment_intents$/, (p) => this.createPaymentIntent(p)],
      ['GET', /^\/v1\/payment_intents\/(pi_\w+)$/, (p, m) => this.expand(this.intent(m[1] as string), p)],
      ['POST', /^\/v1\/payment_intents\/(pi_\w+)$/, (p, m) => this.updatePaymentIntent(m[1] as string, p)],
      ['POST', /^\/v1\/payment_intents\/(pi_\w+)\/confirm$/, (p, m) => this.confirmPaymentIntent(m[1] as string, p)],
      ['POST', /^\/v1\/payment_intents\/(pi_\w+)\/capture$/, (p, m) => this.capture(m[1] as string, p)],
      ['POST', /^\/v1\/payment_intents\/(pi_\w+)\/cancel$/, (p, m) => this.cancel(m[1] as string, p)],
      ['GET', /^\/v1\/charges\/(ch_\w+)$/, (p, m) => this.expand(this.get(this.charges, 'charge', m[1] as string), p)],
      ['POST', /^\/v1\/refunds$/, (p) => this.createRefund(p)],
      ['GET', /^\/v1\/refunds\/(re_\w+)$/, (_p, m) => this.get(this.refunds, 'refund', m[1] as string)],
      [
        'GET',
        /^\/v1\/application_fees\/(fee_\w+)$/,
        (_p, m) => this.get(this.applicationFees, 'application fee', m[1] as string),
      ],
      ['GET', /^\/v1\/transfers\/(tr_\w+)$/, (_p, m) => this.get(this.transfers, 'transfer', m[1] as string)],
      ['GET', /^\/v1\/events\/(evt_\w+)$/, (_p, m) => this.get(this.events, 'event', m[1] as string)],
      // Lists the reconciler walks (cursor pagination as Stripe's: limit, starting_after, has_more).
      ['GET', /^\/v1\/accounts$/, (p) => this.list('/v1/accounts', [...this.accounts.values()], p)],
      [
        'GET',
        /^\/v1\/refunds$/,
        (p) =>
          this.list(
            '/v1/refunds',
            [...this.refunds.values()].filter(
              (r) => p.payment_intent === undefined || r.payment_intent === p.payment_intent,
            ),
            p,
          ),
      ],
      // Disputes, transfer reversals, payouts (slice 4).
      ['GET', /^\/v1\/disputes\/(dp_\w+|du_\w+)$/, (_p, m) => this.get(this.disputes, 'dispute', m[1] as string)],
      ['POST', /^\/v1\/transfers\/(tr_\w+)\/reversals$/, (p, m) => this.createTransferReversal(m[1] as string, p)],
      ['GET', /^\/v1\/payouts\/(po_\w+)$/, (_p, m, c) => this.getPayout(m[1] as string, c.account)],
      // Billing (decision 0023 slice 6): products, prices, subscriptions, invoices.
      ['POST', /^\/v1\/products$/, (p) => this.createProduct(p)],
      ['GET', /^\/v1\/products\/(prod_\w+)$/, (_p, m) => this.get(this.products, 'product', m[1] as string)],
      ['POST', /^\/v1\/prices$/, (p) => this.createPrice(p)],
      ['GET', /^\/v1\/prices$/, (p) => this.listPrices(p)],
      ['GET', /^\/v1\/prices\/(price_\w+)$/, (_p, m) => this.get(this.prices, 'price', m[1] as string)],
      ['POST', /^\/v1\/subscriptions$/, (p) => this.createSubscription(p)],
      ['GET', /^\/v1\/subscriptions\/(sub_\w+)$/, (p, m) => this.subscriptionView(m[1] as string, p)],
      ['POST', /^\/v1\/subscriptions\/(sub_\w+)$/, (p, m) => this.updateSubscription(m[1] as string, p)],
      ['DELETE', /^\/v1\/subscriptions\/(sub_\w+)$/, (_p, m) => this.cancelSubscription(m[1] as string)],
      ['GET', /^\/v1\/invoices\/(in_\w+)$/, (p, m) => this.invoiceView(m[1] as string, p)],
      ['GET', /^\/v1\/invoices\/(in_\w+)\/lines$/, (p, m) => this.invoiceLines(m[1] as string, p)],
      ['POST', /^\/v1\/billing\/meters$/, (p) => this.createMeter(p)],
      ['POST', /^\/v1\/billing\/meter_events$/, (p) => this.createMeterEvent(p)],
      // The meters and what each counted, for the reconciler.
      ['GET', /^\/v1\/billing\/meters$/, (p) => this.list('/v1/billing/meters', [...this.meters.values()], p)],
      [
        'GET',
        /^\/v1\/billing\/meters\/(mtr_\w+)\/event_summaries$/,
        (p, m) => this.meterEventSummaries(m[1] as string, p),
      ],
      // Lists the reconciler walks for disputes, payouts and invoices (issue 13 item 6).
      ['GET', /^\/v1\/disputes$/, (p) => this.listDisputes(p)],
      ['GET', /^\/v1\/payouts$/, (p, _m, c) => this.listPayouts(p, c.account)],
      ['GET', /^\/v1\/invoices$/, (p) => this.listInvoices(p)],
      ['POST', /^\/v1\/prices\/(price_\w+)$/, (p, m) => this.updatePrice(m[1] as string, p)],
    ];
  }

  /** Starts a double on a free local port. */
  static async start(options: { secretKey?: string; webhookSecret?: string } = {}): Promise<StripeDouble> {
    const double = new StripeDouble(options);
    double.server = createServer((req, res) => void double.handle(req, res));
    await new Promise<void>((resolve) => double.server.listen(0, '127.0.0.1', resolve));
    double.url = `http://127.0.0.1:${(double.server.address() as AddressInfo).port}`;
    return double;
  }

  /** The settings that point Loconomy at this double. */
  env(): Record<string, string> {
    return {
      STRIPE_SECRET_KEY: this.secretKey,
      STRIPE_WEBHOOK_SECRET: this.webhookSecret,
      LOCONOMY_STRIPE_API_URL: this.url,
    };
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  /** The next request matching method and path fails with this status and Stripe error. */
  failNext(method: string, path: RegExp, status: number, error: Obj = {}): void {
    this.failures.push({
      method,
      path,
      status,
      error: {
        type: status >= 500 ? 'api_error' : 'invalid_request_error',
        message: 'Failure injected by the test',
        ...error,
      },
    });
  }

  // ---------------------------------------------------------------------------
  // HTTP
  // ---------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://double');
    const requestId = newId('req', 14);

    if (method === 'GET' && url.pathname.startsWith('/connect/onboarding/')) {
      return this.visitAccountLink(url.pathname.slice('/connect/onboarding/'.length), res);
    }

    const params = parseForm(method === 'GET' || method === 'DELETE' ? url.search.slice(1) : raw);
    const header = (name: string) => {
      const v = req.headers[name];
      return typeof v === 'string' ? v : undefined;
    };
    const account = header('stripe-account');
    const idempotencyKey = header('idempotency-key');
    const send = (status: number, body: string, extra: Record<string, string> = {}) => {
      this.requests.push({
        method,
        path: url.pathname,
        params,
        idempotencyKey,
        stripeAccount: account,
        stripeVersion: header('stripe-version'),
        status,
      });
      res.writeHead(status, { 'content-type': 'application/json', 'request-id': requestId, ...extra }).end(body);
    };
    const error = (status: number, body: Obj) => send(status, JSON.stringify({ error: body }, null, 2));

    const auth = header('authorization');
    if (auth === undefined)
      return error(401, { type: 'invalid_request_error', message: 'You did not provide an API key.' });
    if (auth !== `Bearer ${this.secretKey}`) {
      const shown = auth.replace(/^Bearer /, '').replace(/^(.{8}).*(.{4})$/, '$1****$2');
      return error(401, { type: 'invalid_request_error', message: `Invalid API Key provided: ${shown}` });
    }

    // Same key (per account) and same request: the first answer again; another request: refused.
    const scope = `${account ?? ''}:${idempotencyKey}`;
    const fingerprint = createHash('sha256').update(`${method} ${url.pathname}\n${raw}`).digest('hex');
    if (method === 'POST' && idempotencyKey !== undefined) {
      const seen = this.idempotency.get(scope);
      if (seen && seen.fingerprint !== fingerprint) {
        return error(400, {
          type: 'idempotency_error',
          message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
        });
      }
      if (seen) return send(seen.status, seen.body, { 'idempotent-replayed': 'true', 'original-request': requestId });
    }

    const failure = this.failures.findIndex((f) => f.method === method && f.path.test(url.pathname));
    if (failure >= 0) {
      const [f] = this.failures.splice(failure, 1);
      return error(f?.status ?? 500, f?.error ?? {});
    }

    let status = 200;
    let body: string;
    const route = this.routes.find(([m, path]) => m === method && path.test(url.pathname));
    try {
      if (route === undefined) {
        throw new StripeDoubleError(404, {
          type: 'invalid_request_error',
          message: `Unrecognized request URL (${method}: ${url.pathname}). The Stripe double does not model it.`,
        });
      }
      const [, path, handler] = route;
      body = JSON.stringify(handler(params, url.pathname.match(path) as RegExpMatchArray, { account }), null, 2);
    } catch (e) {
      if (!(e instanceof StripeDoubleError)) throw e;
      status = e.status;
      body = JSON.stringify({ error: e.body }, null, 2);
    }
    if (method === 'POST' && idempotencyKey !== undefined && status < 500) {
      this.idempotency.set(scope, { fingerprint, status, body });
    }
    send(status, body);
  }

  /** A page of a list, newest first, after `starting_after` (Stripe's cursor), at most `limit` (default 10, max 100). */
  private list(url: string, objects: Obj[], params: FormObject): Obj {
    const limit = int(params, 'limit') ?? 10;
    if (limit < 1 || limit > 100) throw invalid('limit must be between 1 and 100', { param: 'limit' });
    const sorted = objects.sort((a, b) => (b.created as number) - (a.created as number));
    const after = str(params, 'starting_after');
    const start = after === undefined ? 0 : sorted.findIndex((o) => o.id === after) + 1;
    if (after !== undefined && start === 0) throw missing('object', after, 'starting_after');
    const data = sorted.slice(start, start + limit).map(clone);
    return { object: 'list', data, has_more: start + limit < sorted.length, url };
  }

  private get(store: Map<string, Obj>, kind: string, id: string): Obj {
    const found = store.get(id);
    if (found === undefined) throw missing(kind, id);
    return clone(found);
  }

  /** `expand[]=latest_charge` and similar one-level expansions of ids the double holds. */
  private expand(object: Obj, params: FormObject): Obj {
    const expand = params.expand;
    const fields = Array.isArray(expand) ? expand : typeof expand === 'string' ? [expand] : [];
    for (const field of fields) {
      if (typeof field !== 'string') continue;
      const id = object[field];
      if (typeof id !== 'string') continue;
      const found = this.find(id);
      if (found) object[field] = clone(found);
    }
    return object;
  }

  private find(id: string): Obj | undefined {
    for (const store of [
      this.charges,
      this.paymentIntents,
      this.customers,
      this.paymentMethods,
      this.transfers,
      this.applicationFees,
    ]) {
      const found = store.get(id);
      if (found) return found;
    }
    return undefined;
  }

  // ---------------------------------------------------------------------------
  // Connect: accounts, account links, login links
  // ---------------------------------------------------------------------------

  private createAccount(params: FormObject): Obj {
    const type = str(params, 'type') ?? 'express';
    if (!['express', 'standard', 'custom'].includes(type)) throw invalid(`Invalid type: ${type}`, { param: 'type' });
    const country = (str(params, 'country') ?? 'US').toUpperCase();
    if (!/^[A-Z]{2}$/.test(country)) throw invalid(`Country '${country}' is unknown.`, { param: 'country' });
    const id = newId('acct', 16);
    const capabilities: Obj = {};
    for (const [name, value] of Object.entries(obj(params, 'capabilities'))) {
      if (typeof value === 'object' && !Array.isArray(value) && value.requested === 'true')
        capabilities[name] = 'inactive';
    }
    const account: Obj = {
      id,
      object: 'account',
      type,
      country,
      default_currency: CURRENCY_BY_COUNTRY[country] ?? 'usd',
      email: str(params, 'email') ?? null,
      business_type: str(params, 'business_type') ?? null,
      created: now(),
      livemode: false,
      charges_enabled: false,
      payouts_enabled: false,
      details_submitted: false,
      capabilities,
      controller: { type: 'application', is_controller: true },
      requirements: {
        alternatives: [],
        current_deadline: null,
        currently_due: [...ONBOARDING_REQUIREMENTS],
        disabled_reason: 'requirements.past_due',
        errors: [],
        eventually_due: [...ONBOARDING_REQUIREMENTS],
        past_due: [...ONBOARDING_REQUIREMENTS],
        pending_verification: [],
      },
      future_requirements: {
        alternatives: [],
        current_deadline: null,
        currently_due: [],
        disabled_reason: null,
        errors: [],
        eventually_due: [],
        past_due: [],
        pending_verification: [],
      },
      metadata: metadata(params),
      settings: { payouts: { schedule: { interval: 'daily', delay_days: 2 } } },
      external_accounts: { object: 'list', data: [], has_more: false, url: `/v1/accounts/${id}/external_accounts` },
      tos_acceptance: { date: null },
    };
    this.accounts.set(id, account);
    return clone(account);
  }

  private getAccount(id: string): Obj {
    return this.get(this.accounts, 'account', id);
  }

  private postAccount(id: string, params: FormObject): Obj {
    const account = this.accounts.get(id);
    if (account === undefined) throw missing('account', id);
    account.metadata = metadata(params, account.metadata as Obj);
    const email = str(params, 'email');
    if (email !== undefined) account.email = email;
    return clone(account);
  }

  private createAccountLink(params: FormObject): Obj {
    const accountId = required(str(params, 'account'), 'account');
    const account = this.accounts.get(accountId);
    if (account === undefined) throw missing('account', accountId, 'account');
    const type = required(str(params, 'type'), 'type');
    if (type !== 'account_onboarding' && type !== 'account_update')
      throw invalid(`Invalid type: ${type}`, { param: 'type' });
    if (type === 'account_update' && account.type === 'express') {
      throw invalid('You cannot create `account_update` type Account Links for Express accounts.', { param: 'type' });
    }
    const returnUrl = validUrl(str(params, 'return_url'), 'return_url');
    const refreshUrl = validUrl(str(params, 'refresh_url'), 'refresh_url');
    const token = newId('link', 20).slice(5);
    const created = now();
    const expiresAt = created + 300;
    this.accountLinks.set(token, { account: accountId, returnUrl, refreshUrl, expiresAt, used: false });
    return { object: 'account_link', created, expires_at: expiresAt, url: `${this.url}/connect/onboarding/${token}` };
  }

  /**
   * The provider's browser at an account link: the double plays the hosted onboarding, finishes
   * it (charges and payouts enabled, nothing due) and redirects to return_url. A used or expired
   * link redirects to refresh_url, as Stripe does.
   */
  private visitAccountLink(token: string, res: ServerResponse): void {
    const link = this.accountLinks.get(token);
    if (link === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('This link is not valid.');
      return;
    }
    if (link.used || link.expiresAt < now()) {
      res.writeHead(302, { location: link.refreshUrl }).end();
      return;
    }
    link.used = true;
    this.completeOnboarding(link.account);
    res.writeHead(302, { location: link.returnUrl }).end();
  }

  private createLoginLink(id: string): Obj {
    const account = this.accounts.get(id);
    if (account === undefined) throw missing('account', id);
    if (account.type !== 'express') throw invalid('Login links can only be created for Express accounts.');
    if (account.details_submitted !== true) {
      throw invalid('Cannot create a login link for an account that has not completed onboarding.');
    }
    return { object: 'login_link', created: now(), url: `${this.url}/express/${id}/${newId('login', 12).slice(6)}` };
  }

  /** The test's view of an account (a copy). */
  account(id: string): Obj {
    return this.getAccount(id);
  }

  /**
   * Changes an account as Stripe's review would: enabled flags, requirements (currently_due and
   * past_due as given; disabled_reason follows unless given), capabilities. Returns the copy.
   */
  updateAccount(
    id: string,
    change: {
      charges_enabled?: boolean;
      payouts_enabled?: boolean;
      details_submitted?: boolean;
      currently_due?: string[];
      past_due?: string[];
      disabled_reason?: string | null;
      capabilities?: Record<string, 'active' | 'inactive' | 'pending'>;
    },
  ): Obj {
    const account = this.accounts.get(id);
    if (account === undefined) throw new Error(`the double has no account ${id}`);
    const req = account.requirements as Obj;
    for (const key of ['charges_enabled', 'payouts_enabled', 'details_submitted'] as const) {
      if (change[key] !== undefined) account[key] = change[key];
    }
    if (change.currently_due !== undefined) {
      req.currently_due = [...change.currently_due];
      req.eventually_due = [...new Set([...change.currently_due, ...(change.past_due ?? [])])];
    }
    if (change.past_due !== undefined) req.past_due = [...change.past_due];
    if (change.capabilities !== undefined)
      account.capabilities = { ...(account.capabilities as Obj), ...change.capabilities };
    req.disabled_reason =
      change.disabled_reason !== undefined
        ? change.disabled_reason
        : account.charges_enabled
          ? null
          : (req.past_due as string[]).length > 0
            ? 'requirements.past_due'
            : 'requirements.pending_verification';
    return clone(account);
  }

  /** Onboarding finished and verified: charges and payouts enabled, nothing due. */
  completeOnboarding(id: string): Obj {
    const account = this.accounts.get(id);
    if (account === undefined) throw new Error(`the double has no account ${id}`);
    const active = Object.fromEntries(Object.keys(account.capabilities as Obj).map((k) => [k, 'active' as const]));
    (account.tos_acceptance as Obj).date = now();
    return this.updateAccount(id, {
      details_submitted: true,
      charges_enabled: true,
      payouts_enabled: true,
      currently_due: [],
      past_due: [],
      disabled_reason: null,
      capabilities: active,
    });
  }

  // ---------------------------------------------------------------------------
  // Customers and payment methods
  // ---------------------------------------------------------------------------

  private createCustomer(params: FormObject): Obj {
    const id = newId('cus', 14);
    const customer: Obj = {
      id,
      object: 'customer',
      email: str(params, 'email') ?? null,
      name: str(params, 'name') ?? null,
      created: now(),
      livemode: false,
      metadata: metadata(params),
      invoice_settings: { default_payment_method: null },
    };
    this.customers.set(id, customer);
    const pm = str(params, 'payment_method');
    if (pm !== undefined) this.attachTo(this.resolvePaymentMethod(pm), id);
    const defaultPm = str(obj(params, 'invoice_settings'), 'default_payment_method');
    if (defaultPm !== undefined) this.setDefault(customer, defaultPm);
    return clone(customer);
  }

  private updateCustomer(id: string, params: FormObject): Obj {
    const customer = this.customers.get(id);
    if (customer === undefined) throw missing('customer', id);
    for (const key of ['email', 'name'] as const) {
      const v = str(params, key);
      if (v !== undefined) customer[key] = v === '' ? null : v;
    }
    customer.metadata = metadata(params, customer.metadata as Obj);
    const defaultPm = str(obj(params, 'invoice_settings'), 'default_payment_method');
    if (defaultPm !== undefined) this.setDefault(customer, defaultPm);
    return clone(customer);
  }

  private setDefault(customer: Obj, pmId: string): void {
    if (pmId === '') {
      (customer.invoice_settings as Obj).default_payment_method = null;
      return;
    }
    const pm = this.paymentMethods.get(pmId);
    if (pm === undefined || pm.customer !== customer.id) {
      throw invalid(`No such PaymentMethod: '${pmId}'; it must be attached to the customer first.`, {
        code: 'resource_missing',
        param: 'invoice_settings[default_payment_method]',
      });
    }
    (customer.invoice_settings as Obj).default_payment_method = pmId;
  }

  /** A customer's payment methods, a page at a time (`type` filters, as Stripe's does). */
  private customerPaymentMethods(id: string, params: FormObject): Obj {
    if (!this.customers.has(id)) throw missing('customer', id);
    const type = str(params, 'type');
    const held = [...this.paymentMethods.values()].filter(
      (pm) => pm.customer === id && (type === undefined || pm.type === type),
    );
    return this.list(`/v1/customers/${id}/payment_methods`, held, params);
  }

  /** A payment method by id; a `pm_card_*` test id (or a token) becomes a new payment method, as at Stripe. */
  private resolvePaymentMethod(id: string, param = 'payment_method'): Obj {
    const card = TEST_CARDS[id];
    if (card !== undefined) return this.newCard(card);
    const pm = this.paymentMethods.get(id);
    if (pm === undefined) throw missing('PaymentMethod', id, param);
    return pm;
  }

  private newCard(card: TestCard, extra: Obj = {}): Obj {
    const id = newId('pm', 24);
    const pm: Obj = {
      id,
      object: 'payment_method',
      type: 'card',
      card: {
        brand: card.brand,
        last4: card.last4,
        exp_month: 12,
        exp_year: new Date().getUTCFullYear() + 5,
        country: 'US',
        funding: 'credit',
      },
      billing_details: { address: null, email: null, name: null, phone: null },
      customer: null,
      created: now(),
      livemode: false,
      metadata: {},
      ...extra,
    };
    this.paymentMethods.set(id, pm);
    this.cards.set(id, card);
    return pm;
  }

  private createPaymentMethod(params: FormObject): Obj {
    const type = required(str(params, 'type'), 'type');
    if (type !== 'card') throw invalid(`The double only models card payment methods, not ${type}.`, { param: 'type' });
    const token = str(obj(params, 'card'), 'token');
    const card = token === undefined ? undefined : TEST_CARDS[token];
    if (card === undefined) {
      throw invalid('Pass card[token] with a test token such as tok_visa (raw card numbers are not accepted).', {
        param: 'card',
      });
    }
    return clone(this.newCard(card, { metadata: metadata(params) }));
  }

  private paymentMethod(id: string): Obj {
    return clone(this.resolvePaymentMethod(id, 'id'));
  }

  private attachTo(pm: Obj, customerId: string): void {
    if (!this.customers.has(customerId)) throw missing('customer', customerId, 'customer');
    if (pm.customer !== null && pm.customer !== customerId) {
      throw invalid('The payment method you provided has already been attached to a customer.', {
        code: 'payment_method_unexpected_state',
      });
    }
    pm.customer = customerId;
  }

  private attach(id: string, params: FormObject): Obj {
    const pm = this.resolvePaymentMethod(id, 'id');
    this.attachTo(pm, required(str(params, 'customer'), 'customer'));
    return clone(pm);
  }

  private detach(id: string): Obj {
    const pm = this.paymentMethods.get(id);
    if (pm === undefined) throw missing('PaymentMethod', id);
    if (pm.customer === null) throw invalid('The payment method you provided is not attached to a customer.');
    const customer = this.customers.get(pm.customer as string);
    if (customer && (customer.invoice_settings as Obj).default_payment_method === id) {
      (customer.invoice_settings as Obj).default_payment_method = null;
    }
    pm.customer = null;
    return clone(pm);
  }

  private behaviour(pmId: string): TestCard {
    const card = this.cards.get(pmId);
    if (card === undefined) throw new Error(`no test card behind ${pmId}`);
    return card;
  }

  /** A card error (402) as Stripe answers it, naming the intent when there is one. */
  private cardError(code: string, declineCode: string | undefined, message: string, intent?: Obj): StripeDoubleError {
    const body: Obj = { type: 'card_error', code, message, ...(declineCode && { decline_code: declineCode }) };
    if (intent) {
      body[intent.object === 'setup_intent' ? 'setup_intent' : 'payment_intent'] = clone(intent);
      if (intent.payment_method) body.payment_method = clone(this.paymentMethods.get(intent.payment_method as string));
    }
    return new StripeDoubleError(402, body);
  }

  // ---------------------------------------------------------------------------
  // SetupIntents
  // ---------------------------------------------------------------------------

  private createSetupIntent(params: FormObject): Obj {
    const id = newId('seti', 24);
    const customer = str(params, 'customer') ?? null;
    if (customer !== null && !this.customers.has(customer)) throw missing('customer', customer, 'customer');
    const pmId = str(params, 'payment_method');
    const intent: Obj = {
      id,
      object: 'setup_intent',
      client_secret: `${id}_secret_${newId('s', 16).slice(2)}`,
      customer,
      payment_method: pmId === undefined ? null : this.resolvePaymentMethod(pmId).id,
      status: pmId === undefined ? 'requires_payment_method' : 'requires_confirmation',
      usage: str(params, 'usage') ?? 'off_session',
      next_action: null,
      last_setup_error: null,
      created: now(),
      livemode: false,
      metadata: metadata(params),
    };
    this.setupIntents.set(id, intent);
    if (bool(params, 'confirm') === true) return this.runSetup(intent);
    return clone(intent);
  }

  private confirmSetupIntent(id: string, params: FormObject): Obj {
    const intent = this.setupIntents.get(id);
    if (intent === undefined) throw missing('setupintent', id);
    if (!['requires_payment_method', 'requires_confirmation', 'requires_action'].includes(intent.status as string)) {
      throw invalid(`You cannot confirm this SetupIntent because it has a status of ${intent.status}.`, {
        code: 'setup_intent_unexpected_state',
      });
    }
    const pmId = str(params, 'payment_method');
    if (pmId !== undefined) intent.payment_method = this.resolvePaymentMethod(pmId).id;
    return this.runSetup(intent);
  }

  private runSetup(intent: Obj): Obj {
    if (intent.payment_method === null) {
      throw invalid('You cannot confirm this SetupIntent because it has no payment method.', {
        code: 'setup_intent_unexpected_state',
      });
    }
    const card = this.behaviour(intent.payment_method as string);
    if (card.behaviour === 'declined' || card.behaviour === 'insufficient_funds') {
      intent.status = 'requires_payment_method';
      intent.last_setup_error = { type: 'card_error', code: 'card_declined', decline_code: 'generic_decline' };
      throw this.cardError('card_declined', 'generic_decline', 'Your card was declined.', intent);
    }
    if (card.behaviour === 'authenticate' || card.behaviour === 'authenticate_on_setup') {
      intent.status = 'requires_action';
      intent.next_action = { type: 'use_stripe_sdk', use_stripe_sdk: { type: 'three_d_secure_redirect' } };
      return clone(intent);
    }
    return this.finishSetup(intent);
  }

  private finishSetup(intent: Obj): Obj {
    intent.status = 'succeeded';
    intent.next_action = null;
    const pm = this.paymentMethods.get(intent.payment_method as string) as Obj;
    if (intent.customer !== null) this.attachTo(pm, intent.customer as string);
    // Set up for off-session use: 3155 cards no longer ask for authentication.
    pm.setup_for_off_session = true;
    return clone(intent);
  }

  private cancelSetupIntent(id: string): Obj {
    const intent = this.setupIntents.get(id);
    if (intent === undefined) throw missing('setupintent', id);
    if (intent.status === 'succeeded' || intent.status === 'canceled') {
      throw invalid(`You cannot cancel this SetupIntent because it has a status of ${intent.status}.`, {
        code: 'setup_intent_unexpected_state',
      });
    }
    intent.status = 'canceled';
    return clone(intent);
  }

  // ---------------------------------------------------------------------------
  // PaymentIntents, charges, application fees, transfers
  // ---------------------------------------------------------------------------

  private intent(id: string): Obj {
    return this.get(this.paymentIntents, 'payment_intent', id);
  }

  private createPaymentIntent(params: FormObject): Obj {
    const amount = required(int(params, 'amount'), 'amount');
    if (amount < 1)
      throw invalid('This value must be greater than or equal to 1.', {
        param: 'amount',
        code: 'parameter_invalid_integer',
      });
    const currency = required(str(params, 'currency'), 'currency').toLowerCase();
    if (!/^[a-z]{3}$/.test(currency)) throw invalid(`Invalid currency: ${currency}.`, { param: 'currency' });
    const captureMethod = str(params, 'capture_method') ?? 'automatic';
    if (!['automatic', 'automatic_async', 'manual'].includes(captureMethod)) {
      throw invalid(`Invalid capture_method: ${captureMethod}`, { param: 'capture_method' });
    }
    const fee = int(params, 'application_fee_amount') ?? null;
    if (fee !== null && (fee < 0 || fee > amount)) {
      throw invalid('application_fee_amount must be between 0 and the amount.', { param: 'application_fee_amount' });
    }
    const destination = str(obj(params, 'transfer_data'), 'destination') ?? null;
    if (destination !== null) {
      const account = this.accounts.get(destination);
      if (account === undefined) throw missing('account', destination, 'transfer_data[destination]');
      if ((account.capabilities as Obj).transfers !== 'active') {
        throw invalid(
          `Your destination account needs to have at least one of the following capabilities enabled: transfers, crypto_transfers, legacy_payments`,
          { code: 'insufficient_capabilities_for_transfer', param: 'transfer_data[destination]' },
        );
      }
    }
    const customer = str(params, 'customer') ?? null;
    if (customer !== null && !this.customers.has(customer)) throw missing('customer', customer, 'customer');
    const pmId = str(params, 'payment_method');
    const pm = pmId === undefined ? undefined : this.resolvePaymentMethod(pmId);
    if (pm && pm.customer !== null && pm.customer !== customer) {
      throw invalid('The provided PaymentMethod belongs to another customer.', { param: 'payment_method' });
    }
    const id = newId('pi', 24);
    const intent: Obj = {
      id,
      object: 'payment_intent',
      amount,
      amount_capturable: 0,
      amount_received: 0,
      currency,
      customer,
      payment_method: pm?.id ?? null,
      capture_method: captureMethod,
      confirmation_method: 'automatic',
      application_fee_amount: fee,
      transfer_data: destination === null ? null : { destination },
      on_behalf_of: str(params, 'on_behalf_of') ?? null,
      description: str(params, 'description') ?? null,
      setup_future_usage: str(params, 'setup_future_usage') ?? null,
      status: pm === undefined ? 'requires_payment_method' : 'requires_confirmation',
      client_secret: `${id}_secret_${newId('s', 16).slice(2)}`,
      latest_charge: null,
      last_payment_error: null,
      next_action: null,
      cancellation_reason: null,
      canceled_at: null,
      created: now(),
      livemode: false,
      metadata: metadata(params),
    };
    this.paymentIntents.set(id, intent);
    if (bool(params, 'confirm') === true) return this.runConfirm(intent, bool(params, 'off_session') === true);
    return clone(intent);
  }

  private updatePaymentIntent(id: string, params: FormObject): Obj {
    const intent = this.paymentIntents.get(id);
    if (intent === undefined) throw missing('payment_intent', id);
    intent.metadata = metadata(params, intent.metadata as Obj);
    const amount = int(params, 'amount');
    if (amount !== undefined) {
      if (!['requires_payment_method', 'requires_confirmation'].includes(intent.status as string)) {
        throw invalid(`You cannot update the amount of a PaymentIntent with status ${intent.status}.`, {
          code: 'payment_intent_unexpected_state',
        });
      }
      intent.amount = amount;
    }
    const fee = int(params, 'application_fee_amount');
    if (fee !== undefined) intent.application_fee_amount = fee;
    return clone(intent);
  }

  private confirmPaymentIntent(id: string, params: FormObject): Obj {
    const intent = this.paymentIntents.get(id);
    if (intent === undefined) throw missing('payment_intent', id);
    if (!['requires_payment_method', 'requires_confirmation', 'requires_action'].includes(intent.status as string)) {
      throw invalid(`This PaymentIntent's status is ${intent.status}, so it cannot be confirmed.`, {
        code: 'payment_intent_unexpected_state',
        payment_intent: clone(intent),
      });
    }
    const pmId = str(params, 'payment_method');
    if (pmId !== undefined) intent.payment_method = this.resolvePaymentMethod(pmId).id;
    return this.runConfirm(intent, bool(params, 'off_session') === true);
  }

  private runConfirm(intent: Obj, offSession: boolean): Obj {
    if (intent.payment_method === null) {
      throw invalid('You cannot confirm this PaymentIntent because it is missing a payment method.', {
        code: 'payment_intent_unexpected_state',
      });
    }
    const pm = this.paymentMethods.get(intent.payment_method as string) as Obj;
    const card = this.behaviour(pm.id as string);
    if (card.behaviour === 'declined' || card.behaviour === 'insufficient_funds' || card.behaviour === 'charge_fails') {
      const decline = card.behaviour === 'insufficient_funds' ? 'insufficient_funds' : 'generic_decline';
      const message =
        card.behaviour === 'insufficient_funds' ? 'Your card has insufficient funds.' : 'Your card was declined.';
      this.newCharge(intent, 'failed');
      intent.status = 'requires_payment_method';
      intent.last_payment_error = { type: 'card_error', code: 'card_declined', decline_code: decline, message };
      this.invoicePaymentSettled(intent);
      throw this.cardError('card_declined', decline, message, intent);
    }
    const needsAuth =
      card.behaviour === 'authenticate' ||
      (card.behaviour === 'authenticate_on_setup' && pm.setup_for_off_session !== true);
    if (needsAuth) {
      if (offSession) {
        const message = 'Your card was declined. This transaction requires authentication.';
        intent.status = 'requires_payment_method';
        intent.last_payment_error = {
          type: 'card_error',
          code: 'authentication_required',
          decline_code: 'authentication_required',
          message,
        };
        throw this.cardError('authentication_required', 'authentication_required', message, intent);
      }
      intent.status = 'requires_action';
      intent.next_action = { type: 'use_stripe_sdk', use_stripe_sdk: { type: 'three_d_secure_redirect' } };
      return clone(intent);
    }
    return this.authorise(intent);
  }

  /** The card was authorised: held (manual capture) or captured at once. */
  private authorise(intent: Obj): Obj {
    intent.next_action = null;
    intent.last_payment_error = null;
    const charge = this.newCharge(intent, 'succeeded');
    if (intent.customer !== null && intent.setup_future_usage !== null) {
      this.attachTo(this.paymentMethods.get(intent.payment_method as string) as Obj, intent.customer as string);
    }
    if (intent.capture_method === 'manual') {
      intent.status = 'requires_capture';
      intent.amount_capturable = intent.amount;
      return clone(intent);
    }
    this.captureCharge(intent, charge, intent.amount as number, intent.application_fee_amount as number | null);
    this.invoicePaymentSettled(intent);
    return clone(intent);
  }

  private newCharge(intent: Obj, status: 'succeeded' | 'failed'): Obj {
    const id = newId('ch', 24);
    const charge: Obj = {
      id,
      object: 'charge',
      amount: intent.amount,
      amount_captured: 0,
      amount_refunded: 0,
      captured: false,
      refunded: false,
      paid: status === 'succeeded',
      status,
      currency: intent.currency,
      customer: intent.customer,
      payment_intent: intent.id,
      payment_method: intent.payment_method,
      application_fee: null,
      application_fee_amount: intent.application_fee_amount,
      transfer: null,
      transfer_data: intent.transfer_data,
      destination: (intent.transfer_data as Obj | null)?.destination ?? null,
      created: now(),
      livemode: false,
      metadata: clone(intent.metadata),
    };
    this.charges.set(id, charge);
    intent.latest_charge = id;
    return charge;
  }

  /** Captures `amount` of an authorised charge; the rest is released. Fee and transfer follow. */
  private captureCharge(intent: Obj, charge: Obj, amount: number, fee: number | null): void {
    charge.captured = true;
    charge.amount_captured = amount;
    // Stripe shows an uncaptured remainder as refunded on the charge.
    charge.amount_refunded = (charge.amount as number) - amount;
    charge.application_fee_amount = fee;
    intent.status = 'succeeded';
    intent.amount_capturable = 0;
    intent.amount_received = amount;
    intent.application_fee_amount = fee;
    const destination = (intent.transfer_data as Obj | null)?.destination as string | undefined;
    if (destination === undefined) return;
    if (fee !== null && fee > 0) {
      const feeId = newId('fee', 24);
      this.applicationFees.set(feeId, {
        id: feeId,
        object: 'application_fee',
        account: destination,
        amount: fee,
        amount_refunded: 0,
        refunded: false,
        charge: charge.id,
        currency: charge.currency,
        created: now(),
        livemode: false,
      });
      charge.application_fee = feeId;
    }
    const transferId = newId('tr', 24);
    this.transfers.set(transferId, {
      id: transferId,
      object: 'transfer',
      amount: amount - (fee ?? 0),
      amount_reversed: 0,
      reversed: false,
      currency: charge.currency,
      destination,
      source_transaction: charge.id,
      created: now(),
      livemode: false,
    });
    charge.transfer = transferId;
    this.credit(destination, charge.currency as string, amount - (fee ?? 0));
  }

  private capture(id: string, params: FormObject): Obj {
    const intent = this.paymentIntents.get(id);
    if (intent === undefined) throw missing('payment_intent', id);
    if (intent.status !== 'requires_capture') {
      throw invalid(
        `This PaymentIntent could not be captured because it has a status of ${intent.status}. Only a PaymentIntent with one of the following statuses may be captured: requires_capture.`,
        { code: 'payment_intent_unexpected_state', payment_intent: clone(intent) },
      );
    }
    const amount = int(params, 'amount_to_capture') ?? (intent.amount_capturable as number);
    if (amount < 1 || amount > (intent.amount_capturable as number)) {
      throw invalid(
        `The amount to capture (${amount}) must be between 1 and the amount capturable (${intent.amount_capturable}).`,
        { code: 'amount_too_large', param: 'amount_to_capture' },
      );
    }
    const fee = int(params, 'application_fee_amount') ?? (intent.application_fee_amount as number | null);
    if (fee !== null && fee > amount) {
      throw invalid('application_fee_amount cannot be greater than the amount captured.', {
        param: 'application_fee_amount',
      });
    }
    const charge = this.charges.get(intent.latest_charge as string) as Obj;
    this.captureCharge(intent, charge, amount, fee);
    return clone(intent);
  }

  private cancel(id: string, params: FormObject): Obj {
    const intent = this.paymentIntents.get(id);
    if (intent === undefined) throw missing('payment_intent', id);
    const cancellable = ['requires_payment_method', 'requires_capture', 'requires_confirmation', 'requires_action'];
    if (!cancellable.includes(intent.status as string)) {
      throw invalid(
        `You cannot cancel this PaymentIntent because it has a status of ${intent.status}. Only a PaymentIntent with one of the following statuses may be canceled: ${cancellable.join(', ')}.`,
        { code: 'payment_intent_unexpected_state', payment_intent: clone(intent) },
      );
    }
    if (intent.status === 'requires_capture') {
      const charge = this.charges.get(intent.latest_charge as string) as Obj;
      charge.amount_refunded = charge.amount;
      charge.refunded = true;
    }
    intent.status = 'canceled';
    intent.amount_capturable = 0;
    intent.next_action = null;
    intent.cancellation_reason = str(params, 'cancellation_reason') ?? null;
    intent.canceled_at = now();
    return clone(intent);
  }

  /**
   * 3-D Secure done by the customer (what Stripe.js does in the browser): the intent goes on as
   * the confirmation would have — authorised (requires_capture) or succeeded; a SetupIntent
   * succeeds and its card is attached. `succeed: false` fails the authentication.
   */
  completeAction(intentId: string, succeed = true): Obj {
    const setup = this.setupIntents.get(intentId);
    const intent = setup ?? this.paymentIntents.get(intentId);
    if (intent === undefined) throw new Error(`the double has no intent ${intentId}`);
    if (intent.status !== 'requires_action') throw new Error(`${intentId} is ${intent.status}, not requires_action`);
    if (!succeed) {
      intent.status = 'requires_payment_method';
      intent.next_action = null;
      const error = {
        type: 'card_error',
        code: 'payment_intent_authentication_failure',
        message: 'The customer failed 3-D Secure.',
      };
      if (setup) intent.last_setup_error = error;
      else intent.last_payment_error = error;
      return clone(intent);
    }
    return setup ? this.finishSetup(setup) : this.authorise(intent);
  }

  // ---------------------------------------------------------------------------
  // Refunds
  // ---------------------------------------------------------------------------

  private createRefund(params: FormObject): Obj {
    const piId = str(params, 'payment_intent');
    let chargeId = str(params, 'charge');
    if (piId !== undefined) {
      const intent = this.paymentIntents.get(piId);
      if (intent === undefined) throw missing('payment_intent', piId, 'payment_intent');
      if (intent.latest_charge === null || intent.status !== 'succeeded') {
        throw invalid(`This PaymentIntent (${piId}) does not have a successful charge to refund.`, {
          code: 'charge_not_refundable',
        });
      }
      chargeId = intent.latest_charge as string;
    }
    if (chargeId === undefined)
      throw invalid('One of the following params should be provided: charge, payment_intent.', {
        code: 'parameter_missing',
      });
    const charge = this.charges.get(chargeId);
    if (charge === undefined) throw missing('charge', chargeId, 'charge');
    const captured = charge.amount_captured as number;
    const released = (charge.amount as number) - captured;
    const refundedSoFar = (charge.amount_refunded as number) - released;
    const left = captured - refundedSoFar;
    if (!charge.captured || left <= 0) {
      throw invalid(`Charge ${chargeId} has already been refunded.`, { code: 'charge_already_refunded' });
    }
    const amount = int(params, 'amount') ?? left;
    if (amount < 1 || amount > left) {
      throw invalid(`Refund amount (${amount}) is greater than unrefunded amount on charge (${left})`, {
        code: 'amount_too_large',
        param: 'amount',
      });
    }
    const id = newId('re', 24);
    let transferReversal: string | null = null;
    // Proportional, as Stripe computes them: the share of the captured amount refunded.
    if (bool(params, 'refund_application_fee') === true && charge.application_fee !== null) {
      const fee = this.applicationFees.get(charge.application_fee as string) as Obj;
      const back = Math.min(
        Math.round(((fee.amount as number) * amount) / captured),
        (fee.amount as number) - (fee.amount_refunded as number),
      );
      fee.amount_refunded = (fee.amount_refunded as number) + back;
      fee.refunded = fee.amount_refunded === fee.amount;
    }
    if (bool(params, 'reverse_transfer') === true && charge.transfer !== null) {
      const transfer = this.transfers.get(charge.transfer as string) as Obj;
      const back = Math.min(
        Math.round(((transfer.amount as number) * amount) / captured),
        (transfer.amount as number) - (transfer.amount_reversed as number),
      );
      transfer.amount_reversed = (transfer.amount_reversed as number) + back;
      transfer.reversed = transfer.amount_reversed === transfer.amount;
      transferReversal = newId('trr', 24);
      this.credit(transfer.destination as string, transfer.currency as string, -back);
    }
    charge.amount_refunded = (charge.amount_refunded as number) + amount;
    charge.refunded = refundedSoFar + amount === captured;
    const refund: Obj = {
      id,
      object: 'refund',
      amount,
      charge: chargeId,
      payment_intent: charge.payment_intent,
      currency: charge.currency,
      status: 'succeeded',
      reason: str(params, 'reason') ?? null,
      transfer_reversal: transferReversal,
      created: now(),
      metadata: metadata(params),
    };
    this.refunds.set(id, refund);
    return clone(refund);
  }

  // ---------------------------------------------------------------------------
  // Disputes, transfer reversals, payouts, connected accounts' balances (slice 4)
  // ---------------------------------------------------------------------------

  private credit(account: string, currency: string, amount: number): void {
    const key = `${account}:${currency.toLowerCase()}`;
    this.balances.set(key, (this.balances.get(key) ?? 0) + amount);
  }

  /** A connected account's balance in a currency (transfers − reversals − payouts), for tests. */
  balance(account: string, currency: string): number {
    return this.balances.get(`${account}:${currency.toLowerCase()}`) ?? 0;
  }

  private disputeTransaction(dispute: Obj, amount: number, fee: number, category: string): Obj {
    const currency = dispute.currency as string;
    return {
      id: newId('txn', 24),
      object: 'balance_transaction',
      amount,
      currency,
      fee,
      fee_details: fee === 0 ? [] : [{ amount: fee, currency, description: 'Dispute fee', type: 'stripe_fee' }],
      net: amount - fee,
      reporting_category: category,
      type: 'adjustment',
      source: dispute.id,
      status: 'available',
      created: now(),
    };
  }

  /**
   * The customer's bank disputes a captured charge. A chargeback (the default) takes the amount
   * from the platform at once with Stripe's dispute fee (15.00 in the charge's currency's minor
   * units), as a balance transaction on the dispute; an inquiry (`inquiry: true`,
   * warning_needs_response) takes nothing yet. `fundsWithdrawn: false` leaves the withdrawal to
   * `withdrawDisputeFunds()`. Returns the dispute.
   */
  dispute(chargeId: string, options: { reason?: string; inquiry?: boolean; fundsWithdrawn?: boolean } = {}): Obj {
    const charge = this.charges.get(chargeId);
    if (charge === undefined) throw new Error(`the double has no charge ${chargeId}`);
    if (charge.captured !== true) throw new Error(`charge ${chargeId} is not captured`);
    // What the customer paid and still has not had back (amount_refunded counts the released remainder).
    const released = (charge.amount as number) - (charge.amount_captured as number);
    const refunded = (charge.amount_refunded as number) - released;
    const id = newId('dp', 24);
    const dispute: Obj = {
      id,
      object: 'dispute',
      amount: (charge.amount_captured as number) - refunded,
      balance_transactions: [],
      charge: chargeId,
      created: now(),
      currency: charge.currency,
      evidence_details: { due_by: now() + 7 * 86400, has_evidence: false, past_due: false, submission_count: 0 },
      is_charge_refundable: false,
      livemode: false,
      metadata: {},
      payment_intent: charge.payment_intent,
      reason: options.reason ?? 'fraudulent',
      status: options.inquiry ? 'warning_needs_response' : 'needs_response',
    };
    charge.disputed = true;
    this.disputes.set(id, dispute);
    if (!options.inquiry && options.fundsWithdrawn !== false) this.withdrawDisputeFunds(id);
    return clone(dispute);
  }

  /** The disputed amount and the dispute fee leave the platform's balance (charge.dispute.funds_withdrawn). */
  withdrawDisputeFunds(id: string): Obj {
    const dispute = this.disputes.get(id);
    if (dispute === undefined) throw new Error(`the double has no dispute ${id}`);
    (dispute.balance_transactions as Obj[]).push(
      this.disputeTransaction(dispute, -(dispute.amount as number), 1500, 'dispute'),
    );
    return clone(dispute);
  }

  /** An open dispute moves on (under_review once evidence is in; an inquiry escalates to needs_response). */
  updateDispute(id: string, status: string): Obj {
    const dispute = this.disputes.get(id);
    if (dispute === undefined) throw new Error(`the double has no dispute ${id}`);
    dispute.status = status;
    if (status === 'under_review') (dispute.evidence_details as Obj).has_evidence = true;
    return clone(dispute);
  }

  /** The bank decides: won reinstates the disputed amount (the fee is not returned), lost keeps it. */
  closeDispute(id: string, outcome: 'won' | 'lost'): Obj {
    const dispute = this.disputes.get(id);
    if (dispute === undefined) throw new Error(`the double has no dispute ${id}`);
    const withdrawn = (dispute.balance_transactions as Obj[]).some((t) => (t.amount as number) < 0);
    if (outcome === 'won' && withdrawn) {
      (dispute.balance_transactions as Obj[]).push(
        this.disputeTransaction(dispute, dispute.amount as number, 0, 'dispute_reversal'),
      );
    }
    dispute.status = outcome;
    return clone(dispute);
  }

  private createTransferReversal(transferId: string, params: FormObject): Obj {
    const transfer = this.transfers.get(transferId);
    if (transfer === undefined) throw missing('transfer', transferId);
    const left = (transfer.amount as number) - (transfer.amount_reversed as number);
    const amount = int(params, 'amount') ?? left;
    if (amount < 1 || amount > left) {
      throw invalid(`Amount requested for reversal (${amount}) exceeds the transfer's remaining amount (${left}).`, {
        code: 'amount_too_large',
        param: 'amount',
      });
    }
    const destination = transfer.destination as string;
    if (this.balance(destination, transfer.currency as string) < amount) {
      throw invalid(
        `Insufficient funds in the destination account ${destination} to reverse ${amount} (its balance is ${this.balance(destination, transfer.currency as string)}).`,
        { code: 'balance_insufficient' },
      );
    }
    const id = newId('trr', 24);
    const reversal: Obj = {
      id,
      object: 'transfer_reversal',
      amount,
      balance_transaction: newId('txn', 24),
      created: now(),
      currency: transfer.currency,
      destination_payment_refund: null,
      metadata: metadata(params),
      source_refund: null,
      transfer: transferId,
    };
    this.transferReversals.set(id, reversal);
    transfer.amount_reversed = (transfer.amount_reversed as number) + amount;
    transfer.reversed = transfer.amount_reversed === transfer.amount;
    this.credit(destination, transfer.currency as string, -amount);
    return clone(reversal);
  }

  /** Stripe pays a connected account out (an automatic payout, `pending`), from its balance. */
  payout(account: string, amount: number, currency = 'usd'): Obj {
    if (!this.accounts.has(account)) throw new Error(`the double has no account ${account}`);
    const id = newId('po', 24);
    const payout: Obj = {
      id,
      object: 'payout',
      amount,
      arrival_date: now() + 2 * 86400,
      automatic: true,
      balance_transaction: newId('txn', 24),
      created: now(),
      currency,
      description: 'STRIPE PAYOUT',
      destination: newId('ba', 24),
      failure_balance_transaction: null,
      failure_code: null,
      failure_message: null,
      livemode: false,
      metadata: {},
      method: 'standard',
      reconciliation_status: 'not_applicable',
      source_type: 'card',
      statement_descriptor: null,
      status: 'pending',
      type: 'bank_account',
    };
    this.payouts.set(id, { account, payout });
    this.credit(account, currency, -amount);
    return clone(payout);
  }

  /** A payout moves on: in_transit, paid, failed (money back on the balance, with a failure code) or canceled. */
  payoutStatus(id: string, status: 'in_transit' | 'paid' | 'failed' | 'canceled', failureCode = 'account_closed'): Obj {
    const held = this.payouts.get(id);
    if (held === undefined) throw new Error(`the double has no payout ${id}`);
    const { account, payout } = held;
    if ((status === 'failed' || status === 'canceled') && payout.status !== 'failed' && payout.status !== 'canceled') {
      this.credit(account, payout.currency as string, payout.amount as number);
      payout.failure_balance_transaction = newId('txn', 24);
    }
    if (status === 'failed') {
      payout.failure_code = failureCode;
      payout.failure_message = 'The bank account has been closed.';
    }
    payout.status = status;
    return clone(payout);
  }

  private getPayout(id: string, account: string | undefined): Obj {
    const held = this.payouts.get(id);
    // A connected account's payout exists only in that account's scope (the Stripe-Account header).
    if (held === undefined || held.account !== account) throw missing('payout', id);
    return clone(held.payout);
  }

  // ---------------------------------------------------------------------------
  // Saved cards (decision 0023, slice 5): the test's handles on cards and their events
  // ---------------------------------------------------------------------------

  /**
   * The card updater (what Stripe does when a bank issues a new card): the saved card's expiry
   * or last four change in place; Stripe then sends payment_method.automatically_updated.
   */
  updateCard(id: string, change: { exp_month?: number; exp_year?: number; last4?: string }): Obj {
    const pm = this.paymentMethods.get(id);
    if (pm === undefined) throw new Error(`the double has no payment method ${id}`);
    Object.assign(pm.card as Obj, change);
    return clone(pm);
  }

  /** payment_method.<type> (attached, updated, automatically_updated, detached) for a card as held now. */
  paymentMethodEvent(type: string, id: string, options: { created?: number } = {}): Obj {
    return this.event(`payment_method.${type}`, this.get(this.paymentMethods, 'PaymentMethod', id), options);
  }

  /** setup_intent.<type> (succeeded, setup_failed, …) for a SetupIntent as held now. */
  setupIntentEvent(type: string, id: string, options: { created?: number } = {}): Obj {
    return this.event(`setup_intent.${type}`, this.get(this.setupIntents, 'setupintent', id), options);
  }

  // ---------------------------------------------------------------------------
  // Billing (decision 0023 slice 6): products, prices with lookup keys, subscriptions (one item;
  // default_incomplete; trials with a pending SetupIntent; price changes with create_prorations
  // or none; cancel_at_period_end), invoices with lines, a PaymentIntent for the amount due and
  // its confirmation_secret, paid or failed as that PaymentIntent is, and the passing of a
  // period (advanceSubscription) with renewal, dunning (past_due) and cancellation at its end.
  // Shapes are the API version's (2025-03-31 basil onwards): periods on the subscription's
  // items, the invoice's subscription under parent.subscription_details, its payments in
  // `payments`, a line's price under pricing.price_details. Not modelled: quantities other
  // than 1, several items, tiers and metered prices, coupons, taxes, Smart Retries' schedule.
  // ---------------------------------------------------------------------------

  private createProduct(params: FormObject): Obj {
    const id = str(params, 'id') ?? newId('prod', 14);
    if (this.products.has(id))
      throw invalid(`Product already exists.`, { code: 'resource_already_exists', param: 'id' });
    const product: Obj = {
      id,
      object: 'product',
      name: required(str(params, 'name'), 'name'),
      description: str(params, 'description') ?? null,
      active: bool(params, 'active') ?? true,
      default_price: null,
      created: now(),
      livemode: false,
      metadata: metadata(params),
    };
    this.products.set(id, product);
    return clone(product);
  }

  private createPrice(params: FormObject): Obj {
    const product = required(str(params, 'product'), 'product');
    if (!this.products.has(product)) throw missing('product', product, 'product');
    const currency = required(str(params, 'currency'), 'currency').toLowerCase();
    const amount = required(int(params, 'unit_amount'), 'unit_amount');
    if (amount < 0) throw invalid('Invalid non-negative integer', { param: 'unit_amount' });
    const recurring = obj(params, 'recurring');
    const interval = str(recurring, 'interval');
    if (interval !== undefined && !['day', 'week', 'month', 'year'].includes(interval)) {
      throw invalid(`Invalid recurring[interval]: must be one of day, week, month, or year`, {
        param: 'recurring[interval]',
      });
    }
    const lookupKey = str(params, 'lookup_key') ?? null;
    if (lookupKey !== null) {
      const holder = [...this.prices.values()].find((p) => p.lookup_key === lookupKey);
      if (holder !== undefined) {
        if (bool(params, 'transfer_lookup_key') !== true) {
          throw invalid(
            `A price (\`${holder.id}\`) already uses that lookup key. Set transfer_lookup_key to move it to this price.`,
            { code: 'lookup_key_exists', param: 'lookup_key' },
          );
        }
        holder.lookup_key = null;
      }
    }
    const id = newId('price', 24);
    const price: Obj = {
      id,
      object: 'price',
      active: true,
      billing_scheme: 'per_unit',
      currency,
      unit_amount: amount,
      unit_amount_decimal: String(amount),
      lookup_key: lookupKey,
      nickname: str(params, 'nickname') ?? null,
      product,
      recurring:
        interval === undefined
          ? null
          : { interval, interval_count: int(recurring, 'interval_count') ?? 1, usage_type: 'licensed', meter: null },
      type: interval === undefined ? 'one_time' : 'recurring',
      tax_behavior: 'unspecified',
      created: now(),
      livemode: false,
      metadata: metadata(params),
    };
    this.prices.set(id, price);
    return clone(price);
  }

  private listPrices(params: FormObject): Obj {
    const keys = params.lookup_keys;
    const wanted = Array.isArray(keys) ? keys : typeof keys === 'string' ? [keys] : undefined;
    const active = bool(params, 'active');
    const data = [...this.prices.values()]
      .filter((p) => wanted === undefined || wanted.includes(p.lookup_key as string))
      .filter((p) => active === undefined || p.active === active)
      .map(clone);
    return { object: 'list', data, has_more: false, url: '/v1/prices' };
  }

  private price(id: string, param: string): Obj {
    const price = this.prices.get(id);
    if (price === undefined) throw missing('price', id, param);
    if (price.recurring === null) {
      throw invalid(
        `The price specified is set to \`type=one_time\` but this field only accepts prices with \`type=recurring\`.`,
        {
          param,
        },
      );
    }
    return price;
  }

  private static periodEnd(start: number, interval: string): number {
    const d = new Date(start * 1000);
    if (interval === 'year') d.setUTCFullYear(d.getUTCFullYear() + 1);
    else if (interval === 'month') d.setUTCMonth(d.getUTCMonth() + 1);
    else if (interval === 'week') d.setUTCDate(d.getUTCDate() + 7);
    else d.setUTCDate(d.getUTCDate() + 1);
    return Math.floor(d.getTime() / 1000);
  }

  private createSubscription(params: FormObject): Obj {
    const customer = required(str(params, 'customer'), 'customer');
    if (!this.customers.has(customer)) throw missing('customer', customer, 'customer');
    const items = params.items;
    const first = Array.isArray(items) ? items[0] : undefined;
    if (first === undefined || typeof first !== 'object' || Array.isArray(first)) {
      throw invalid('Missing required param: items.', { code: 'parameter_missing', param: 'items' });
    }
    if ((items as FormValue[]).length !== 1) throw invalid('The double models subscriptions of one item.');
    const price = this.price(required(str(first, 'price'), 'items[0][price]'), 'items[0][price]');
    const behaviour = str(params, 'payment_behavior') ?? 'allow_incomplete';
    if (behaviour !== 'default_incomplete') {
      throw invalid(`The double models payment_behavior=default_incomplete only, not ${behaviour}.`, {
        param: 'payment_behavior',
      });
    }
    const trialDays = int(params, 'trial_period_days') ?? 0;
    if (trialDays < 0 || trialDays > 730) throw invalid('trial_period_days must be between 0 and 730.');
    const start = now();
    const id = newId('sub', 24);
    const interval = (price.recurring as Obj).interval as string;
    const end = trialDays > 0 ? start + trialDays * 86_400 : StripeDouble.periodEnd(start, interval);
    const subscription: Obj = {
      id,
      object: 'subscription',
      billing_cycle_anchor: end,
      cancel_at: null,
      cancel_at_period_end: false,
      canceled_at: null,
      collection_method: 'charge_automatically',
      created: start,
      currency: price.currency,
      customer,
      default_payment_method: null,
      ended_at: null,
      items: {
        object: 'list',
        data: [
          {
            id: newId('si', 14),
            object: 'subscription_item',
            created: start,
            current_period_start: start,
            current_period_end: end,
            metadata: {},
            price: clone(price),
            quantity: 1,
            subscription: id,
          },
        ],
        has_more: false,
        url: `/v1/subscription_items?subscription=${id}`,
      },
      latest_invoice: null,
      livemode: false,
      metadata: metadata(params),
      payment_settings: {
        save_default_payment_method: str(obj(params, 'payment_settings'), 'save_default_payment_method') ?? 'off',
      },
      pending_setup_intent: null,
      start_date: start,
      status: trialDays > 0 ? 'trialing' : 'incomplete',
      trial_end: trialDays > 0 ? end : null,
      trial_start: trialDays > 0 ? start : null,
    };
    this.subscriptions.set(id, subscription);
    if (trialDays > 0) {
      // The trial's invoice is for nothing and paid at once; a SetupIntent collects the card for later.
      this.newInvoice(subscription, 'subscription_create', [
        this.line(subscription, `Trial period for ${this.productName(price)}`, 0, start, end),
      ]);
      subscription.pending_setup_intent = (
        this.createSetupIntent({ customer, usage: 'off_session', metadata: {} }) as Obj
      ).id;
    } else {
      this.newInvoice(subscription, 'subscription_create', [
        this.line(subscription, `1 × ${this.productName(price)}`, price.unit_amount as number, start, end),
      ]);
    }
    return this.subscriptionView(id, params);
  }

  private productName(price: Obj): string {
    const product = this.products.get(price.product as string);
    return `${product?.name ?? 'Plan'} (at ${((price.unit_amount as number) / 100).toFixed(2)} ${String(price.currency).toUpperCase()} / ${(price.recurring as Obj).interval})`;
  }

  private line(
    subscription: Obj,
    description: string,
    amount: number,
    start: number,
    end: number,
    proration = false,
  ): Obj {
    const item = ((subscription.items as Obj).data as Obj[])[0] as Obj;
    return {
      id: newId('il', 24),
      object: 'line_item',
      amount,
      currency: subscription.currency,
      description,
      livemode: false,
      metadata: {},
      parent: {
        type: 'subscription_item_details',
        invoice_item_details: null,
        subscription_item_details: {
          invoice_item: null,
          proration,
          proration_details: null,
          subscription: subscription.id,
          subscription_item: item.id,
        },
      },
      period: { start, end },
      pricing: {
        type: 'price_details',
        price_details: { price: (item.price as Obj).id, product: (item.price as Obj).product },
        unit_amount_decimal: String(amount),
      },
      quantity: 1,
      subtotal: amount,
      taxes: [],
    };
  }

  /**
   * A subscription's invoice, finalised at once (charge_automatically): paid when nothing is due,
   * otherwise open with a PaymentIntent for the amount due. A negative total is due as 0.
   */
  private newInvoice(subscription: Obj, reason: string, lines: Obj[]): Obj {
    const id = newId('in', 24);
    const created = now();
    const total = lines.reduce((sum, l) => sum + (l.amount as number), 0);
    const due = Math.max(total, 0);
    const customer = this.customers.get(subscription.customer as string) as Obj;
    this.invoiceSequence += 1;
    const invoice: Obj = {
      id,
      object: 'invoice',
      amount_due: due,
      amount_paid: 0,
      amount_remaining: due,
      attempt_count: 0,
      attempted: false,
      billing_reason: reason,
      collection_method: 'charge_automatically',
      created,
      currency: subscription.currency,
      customer: subscription.customer,
      customer_email: customer.email ?? null,
      due_date: null,
      hosted_invoice_url: `${this.url}/invoice/${id}`,
      invoice_pdf: `${this.url}/invoice/${id}/pdf`,
      lines: { object: 'list', data: lines, has_more: false, url: `/v1/invoices/${id}/lines` },
      livemode: false,
      metadata: {},
      next_payment_attempt: null,
      number: `DBL${String(this.invoiceSequence).padStart(4, '0')}-0001`,
      parent: {
        type: 'subscription_details',
        quote_details: null,
        subscription_details: { metadata: clone(subscription.metadata), subscription: subscription.id },
      },
      period_end: created,
      period_start: created,
      status: 'open',
      status_transitions: { finalized_at: created, marked_uncollectible_at: null, paid_at: null, voided_at: null },
      subtotal: total,
      total,
      total_discount_amounts: [],
      total_taxes: [],
      confirmation_secret: null,
      payments: { object: 'list', data: [], has_more: false, url: `/v1/invoice_payments?invoice=${id}` },
    };
    this.invoices.set(id, invoice);
    subscription.latest_invoice = id;
    if (due === 0) {
      this.markInvoicePaid(invoice);
      return invoice;
    }
    const intent = this.createPaymentIntent({
      amount: String(due),
      currency: subscription.currency as string,
      customer: subscription.customer as string,
      setup_future_usage: 'off_session',
      description: `Subscription ${reason === 'subscription_create' ? 'creation' : 'update'}`,
    });
    this.invoiceOfIntent.set(intent.id as string, id);
    invoice.confirmation_secret = { type: 'payment_intent', client_secret: intent.client_secret };
    (invoice.payments as Obj).data = [
      {
        id: newId('inpay', 24),
        object: 'invoice_payment',
        amount_paid: null,
        amount_requested: due,
        invoice: id,
        is_default: true,
        payment: { type: 'payment_intent', payment_intent: intent.id },
        status: 'open',
      },
    ];
    return invoice;
  }

  private markInvoicePaid(invoice: Obj): void {
    invoice.status = 'paid';
    invoice.amount_paid = invoice.amount_due;
    invoice.amount_remaining = 0;
    invoice.next_payment_attempt = null;
    (invoice.status_transitions as Obj).paid_at = now();
    for (const payment of (invoice.payments as Obj).data as Obj[]) {
      payment.status = 'paid';
      payment.amount_paid = invoice.amount_due;
    }
  }

  /** Hook of the PaymentIntent flow: an invoice's PaymentIntent succeeded or was declined. */
  private invoicePaymentSettled(intent: Obj): void {
    const invoiceId = this.invoiceOfIntent.get(intent.id as string);
    const invoice = invoiceId === undefined ? undefined : this.invoices.get(invoiceId);
    if (invoice === undefined || invoice.status !== 'open') return;
    const parent = (invoice.parent as Obj).subscription_details as Obj;
    const subscription = this.subscriptions.get(parent.subscription as string) as Obj;
    invoice.attempted = true;
    invoice.attempt_count = (invoice.attempt_count as number) + 1;
    if (intent.status !== 'succeeded') {
      // Smart Retries try again later; the subscription is past due once a renewal fails.
      invoice.next_payment_attempt = now() + 3 * 86_400;
      if (subscription.status === 'active' || subscription.status === 'trialing') subscription.status = 'past_due';
      return;
    }
    this.markInvoicePaid(invoice);
    if (['incomplete', 'past_due', 'unpaid'].includes(subscription.status as string)) subscription.status = 'active';
    if (
      subscription.default_payment_method === null &&
      (subscription.payment_settings as Obj).save_default_payment_method === 'on_subscription'
    ) {
      subscription.default_payment_method = intent.payment_method;
    }
  }

  private subscriptionView(id: string, params: FormObject): Obj {
    const subscription = this.get(this.subscriptions, 'subscription', id);
    const expand = params.expand;
    const fields = Array.isArray(expand) ? expand : typeof expand === 'string' ? [expand] : [];
    for (const field of fields) {
      if (field === 'latest_invoice' || field === 'latest_invoice.confirmation_secret') {
        if (typeof subscription.latest_invoice === 'string') {
          subscription.latest_invoice = this.invoiceView(subscription.latest_invoice, {
            expand: field === 'latest_invoice' ? [] : ['confirmation_secret'],
          });
        }
      } else if (field === 'pending_setup_intent' && typeof subscription.pending_setup_intent === 'string') {
        subscription.pending_setup_intent = clone(this.setupIntents.get(subscription.pending_setup_intent));
      }
    }
    return subscription;
  }

  /** An invoice; confirmation_secret and payments are includable (shown when expanded), as at Stripe. */
  private invoiceView(id: string, params: FormObject): Obj {
    const invoice = this.get(this.invoices, 'invoice', id);
    const expand = params.expand;
    const fields = Array.isArray(expand) ? expand : typeof expand === 'string' ? [expand] : [];
    if (!fields.includes('confirmation_secret')) delete invoice.confirmation_secret;
    if (!fields.includes('payments')) delete invoice.payments;
    return invoice;
  }

  private invoiceLines(id: string, params: FormObject): Obj {
    const invoice = this.get(this.invoices, 'invoice', id);
    const lines = (invoice.lines as Obj).data as Obj[];
    const after = str(params, 'starting_after');
    const limit = int(params, 'limit') ?? 10;
    const from = after === undefined ? 0 : lines.findIndex((l) => l.id === after) + 1;
    const data = lines.slice(from, from + limit);
    return { object: 'list', data, has_more: from + limit < lines.length, url: `/v1/invoices/${id}/lines` };
  }

  private updateSubscription(id: string, params: FormObject): Obj {
    const subscription = this.subscriptions.get(id);
    if (subscription === undefined) throw missing('subscription', id);
    if (['canceled', 'incomplete_expired'].includes(subscription.status as string)) {
      throw invalid(`A canceled subscription can only update its cancellation_details and metadata.`);
    }
    subscription.metadata = metadata(params, subscription.metadata as Obj);
    const cancel = bool(params, 'cancel_at_period_end');
    if (cancel !== undefined) {
      subscription.cancel_at_period_end = cancel;
      const item = ((subscription.items as Obj).data as Obj[])[0] as Obj;
      subscription.cancel_at = cancel ? item.current_period_end : null;
      subscription.canceled_at = cancel ? now() : null;
    }
    const items = params.items;
    if (Array.isArray(items) && items[0] !== undefined && typeof items[0] === 'object' && !Array.isArray(items[0])) {
      const change = items[0];
      const item = ((subscription.items as Obj).data as Obj[])[0] as Obj;
      if (str(change, 'id') !== item.id) {
        throw invalid('The double models changing the one existing item (items[0][id]).', { param: 'items[0][id]' });
      }
      const next = this.price(required(str(change, 'price'), 'items[0][price]'), 'items[0][price]');
      const old = item.price as Obj;
      if (next.currency !== old.currency) {
        throw invalid('Cannot combine currencies on a single customer.', { param: 'items[0][price]' });
      }
      const proration = str(params, 'proration_behavior') ?? 'create_prorations';
      if (!['create_prorations', 'none'].includes(proration)) {
        throw invalid(`The double models proration_behavior create_prorations and none, not ${proration}.`, {
          param: 'proration_behavior',
        });
      }
      const at = now();
      const start = item.current_period_start as number;
      const end = item.current_period_end as number;
      if (proration === 'create_prorations' && subscription.status !== 'trialing' && end > at) {
        // Seconds left in the period, as Stripe prorates: credit the old price's unused time, charge the new one's.
        const share = (end - at) / (end - start);
        const date = new Date(at * 1000).toISOString().slice(0, 10);
        const pending = this.pendingItems.get(id) ?? [];
        pending.push(
          this.line(
            subscription,
            `Unused time on ${this.productName(old)} after ${date}`,
            -Math.round((old.unit_amount as number) * share),
            at,
            end,
            true,
          ),
          this.line(
            subscription,
            `Remaining time on ${this.productName(next)} after ${date}`,
            Math.round((next.unit_amount as number) * share),
            at,
            end,
            true,
          ),
        );
        this.pendingItems.set(id, pending);
      }
      item.price = clone(next);
    }
    return this.subscriptionView(id, params);
  }

  private cancelSubscription(id: string): Obj {
    const subscription = this.subscriptions.get(id);
    if (subscription === undefined) throw missing('subscription', id);
    if (subscription.status === 'canceled') {
      throw invalid(`No such subscription: '${id}'`, { code: 'resource_missing' });
    }
    subscription.status = 'canceled';
    subscription.canceled_at = now();
    subscription.ended_at = now();
    return clone(subscription);
  }

  /**
   * The test's clock: the subscription's period (or trial) ends now. Cancelled at period end → it
   * ends (canceled). Otherwise the next period starts and its invoice (waiting prorations + the
   * period's price) is charged to the subscription's (or customer's) default payment method:
   * paid → active; declined, or `decline: true`, or no payment method → the invoice stays open,
   * attempted, and the subscription is past_due. Returns the subscription.
   */
  advanceSubscription(id: string, options: { decline?: boolean } = {}): Obj {
    const subscription = this.subscriptions.get(id);
    if (subscription === undefined) throw new Error(`the double has no subscription ${id}`);
    const item = ((subscription.items as Obj).data as Obj[])[0] as Obj;
    if (subscription.cancel_at_period_end === true) {
      subscription.status = 'canceled';
      subscription.ended_at = now();
      return clone(subscription);
    }
    const start = now();
    const price = item.price as Obj;
    const end = StripeDouble.periodEnd(start, (price.recurring as Obj).interval as string);
    item.current_period_start = start;
    item.current_period_end = end;
    if (subscription.status === 'trialing') subscription.status = 'active';
    const lines = [
      ...(this.pendingItems.get(id) ?? []),
      this.line(subscription, `1 × ${this.productName(price)}`, price.unit_amount as number, start, end),
    ];
    this.pendingItems.delete(id);
    const invoice = this.newInvoice(subscription, 'subscription_cycle', lines);
    if (invoice.status === 'paid') return clone(subscription);
    const intentId = ((invoice.payments as Obj).data as Obj[])[0]?.payment as Obj;
    const intent = this.paymentIntents.get(intentId.payment_intent as string) as Obj;
    const customer = this.customers.get(subscription.customer as string) as Obj;
    const pm =
      (subscription.default_payment_method as string | null) ??
      ((customer.invoice_settings as Obj).default_payment_method as string | null);
    if (pm === null || options.decline) {
      intent.payment_method = pm;
      intent.status = 'requires_payment_method';
      intent.last_payment_error = {
        type: 'card_error',
        code: 'card_declined',
        decline_code: 'generic_decline',
        message: 'Your card was declined.',
      };
      this.invoicePaymentSettled(intent);
      return clone(subscription);
    }
    intent.payment_method = pm;
    try {
      this.runConfirm(intent, true);
    } catch (e) {
      if (!(e instanceof StripeDoubleError)) throw e;
    }
    return clone(subscription);
  }

  /**
   * Billing Meters (sum of `value` per customer, the default payload keys) and meter events: the
   * event's identifier is unique (a second event with it is refused, as Stripe enforces for at
   * least a day), its payload needs stripe_customer_id and a numeric value, and its timestamp lies
   * within the past 35 days. Stripe checks that a meter exists asynchronously (an error report);
   * the double accepts such an event and counts it for no meter, as Stripe bills it to none.
   */
  private createMeter(params: FormObject): Obj {
    const eventName = required(str(params, 'event_name'), 'event_name');
    if (this.meters.has(eventName)) {
      throw invalid(`A meter with event_name ${eventName} already exists.`, { param: 'event_name' });
    }
    const meter: Obj = {
      id: newId('mtr', 24),
      object: 'billing.meter',
      display_name: required(str(params, 'display_name'), 'display_name'),
      event_name: eventName,
      default_aggregation: { formula: str(obj(params, 'default_aggregation'), 'formula') ?? 'sum' },
      customer_mapping: { event_payload_key: 'stripe_customer_id', type: 'by_id' },
      value_settings: { event_payload_key: 'value' },
      status: 'active',
      created: now(),
      livemode: false,
    };
    this.meters.set(eventName, meter);
    return clone(meter);
  }

  private createMeterEvent(params: FormObject): Obj {
    const eventName = required(str(params, 'event_name'), 'event_name');
    const payload = obj(params, 'payload');
    const customer = required(str(payload, 'stripe_customer_id'), 'payload[stripe_customer_id]');
    const value = required(str(payload, 'value'), 'payload[value]');
    if (!/^[0-9]+(\.[0-9]+)?$/.test(value))
      throw invalid('payload[value] must be a number.', { param: 'payload[value]' });
    const identifier = str(params, 'identifier') ?? newId('mev', 24);
    if (this.meterEvents.has(identifier)) {
      throw invalid(`An event already exists with identifier ${identifier}.`, { param: 'identifier' });
    }
    const timestamp = int(params, 'timestamp') ?? now();
    if (timestamp < now() - 35 * 86_400 || timestamp > now() + 300) {
      throw invalid('Timestamp must be within the past 35 calendar days or up to 5 minutes in the future.', {
        param: 'timestamp',
      });
    }
    const event: Obj = {
      object: 'billing.meter_event',
      created: now(),
      event_name: eventName,
      identifier,
      livemode: false,
      payload: { stripe_customer_id: customer, value },
      timestamp,
    };
    this.meterEvents.set(identifier, event);
    return clone(event);
  }

  /**
   * One summary of a meter for a customer over [start_time, end_time) (both on minute boundaries,
   * as Stripe requires): the sum of the values of the events timestamped in it.
   */
  private meterEventSummaries(id: string, params: FormObject): Obj {
    const meter = [...this.meters.values()].find((m) => m.id === id);
    if (meter === undefined) throw missing('billing.meter', id);
    const customer = required(str(params, 'customer'), 'customer');
    const start = required(int(params, 'start_time'), 'start_time');
    const end = required(int(params, 'end_time'), 'end_time');
    if (start % 60 !== 0 || end % 60 !== 0) {
      throw invalid('start_time and end_time must be aligned with minute boundaries.', { param: 'start_time' });
    }
    const value = [...this.meterEvents.values()]
      .filter((e) => e.event_name === meter.event_name && (e.payload as Obj).stripe_customer_id === customer)
      .filter((e) => (e.timestamp as number) >= start && (e.timestamp as number) < end)
      .reduce((sum, e) => sum + Number((e.payload as Obj).value), 0);
    const summary = {
      id: newId('mtrusg', 24),
      object: 'billing.meter_event_summary',
      aggregated_value: value,
      start_time: start,
      end_time: end,
      livemode: false,
      meter: id,
    };
    return { object: 'list', data: [summary], has_more: false, url: `/v1/billing/meters/${id}/event_summaries` };
  }

  /** What a meter counts for a customer: the sum of its events' values. */
  meterTotal(eventName: string, customer: string): number {
    if (!this.meters.has(eventName)) return 0;
    return [...this.meterEvents.values()]
      .filter((e) => e.event_name === eventName && (e.payload as Obj).stripe_customer_id === customer)
      .reduce((sum, e) => sum + Number((e.payload as Obj).value), 0);
  }

  /** The test's view of a subscription and of an invoice (copies). */
  subscription(id: string): Obj {
    return this.get(this.subscriptions, 'subscription', id);
  }
  invoice(id: string): Obj {
    return this.get(this.invoices, 'invoice', id);
  }

  /** customer.subscription.<type> / invoice.<type> events for the objects as the double holds them now. */
  subscriptionEvent(type: string, id: string): Obj {
    return this.event(`customer.subscription.${type}`, this.subscription(id));
  }
  invoiceEvent(type: string, id: string): Obj {
    return this.event(`invoice.${type}`, this.invoice(id));
  }

  // ---------------------------------------------------------------------------
  // Lists for the reconciler (issue 13 item 6): GET /v1/disputes (charge, payment_intent),
  // GET /v1/payouts of the connected account named by Stripe-Account (status), GET /v1/invoices
  // (customer, subscription, status), each with created[gt|gte|lt|lte] and Stripe's cursor
  // pagination (limit, starting_after, has_more). A customer's payment methods (type) page too.
  // POST /v1/prices/:id archives a Price (active) as the dashboard does.
  // ---------------------------------------------------------------------------

  /** Stripe's `created` filter: a timestamp, or a hash of gt / gte / lt / lte. */
  private static createdMatches(params: FormObject, created: number): boolean {
    const filter = params.created;
    if (filter === undefined) return true;
    if (typeof filter === 'string') return created === int(params, 'created');
    const bound = (name: string) => int(obj(params, 'created'), name);
    const [gt, gte, lt, lte] = [bound('gt'), bound('gte'), bound('lt'), bound('lte')];
    return (
      (gt === undefined || created > gt) &&
      (gte === undefined || created >= gte) &&
      (lt === undefined || created < lt) &&
      (lte === undefined || created <= lte)
    );
  }

  /** A Price is archived (active false) or given metadata; its amount, currency and interval never change. */
  private updatePrice(id: string, params: FormObject): Obj {
    const price = this.prices.get(id);
    if (price === undefined) throw missing('price', id);
    for (const fixed of ['unit_amount', 'currency', 'recurring']) {
      if (params[fixed] !== undefined) throw invalid(`Received unknown parameter: ${fixed}`, { param: fixed });
    }
    const active = bool(params, 'active');
    if (active !== undefined) price.active = active;
    price.metadata = metadata(params, price.metadata as Obj);
    return clone(price);
  }

  private listDisputes(params: FormObject): Obj {
    const [charge, intent] = [str(params, 'charge'), str(params, 'payment_intent')];
    const held = [...this.disputes.values()].filter(
      (d) =>
        (charge === undefined || d.charge === charge) &&
        (intent === undefined || d.payment_intent === intent) &&
        StripeDouble.createdMatches(params, d.created as number),
    );
    return this.list('/v1/disputes', held, params);
  }

  /** A connected account's payouts (Stripe-Account); without the header, the platform's own: none here. */
  private listPayouts(params: FormObject, account: string | undefined): Obj {
    const status = str(params, 'status');
    const held = [...this.payouts.values()]
      .filter(({ account: a }) => a === account)
      .map(({ payout }) => payout)
      .filter(
        (p) =>
          (status === undefined || p.status === status) && StripeDouble.createdMatches(params, p.created as number),
      );
    return this.list('/v1/payouts', held, params);
  }

  /** Invoices as listed: without `payments` or the confirmation secret (those are expanded on retrieve). */
  private listInvoices(params: FormObject): Obj {
    const [customer, subscription, status] = [
      str(params, 'customer'),
      str(params, 'subscription'),
      str(params, 'status'),
    ];
    const held = [...this.invoices.values()]
      .filter(
        (i) =>
          (customer === undefined || i.customer === customer) &&
          (subscription === undefined ||
            ((i.parent as Obj | null)?.subscription_details as Obj | undefined)?.subscription === subscription) &&
          (status === undefined || i.status === status) &&
          StripeDouble.createdMatches(params, i.created as number),
      )
      .map((i) => {
        const shown = { ...i };
        delete shown.payments;
        delete shown.confirmation_secret;
        return shown;
      });
    return this.list('/v1/invoices', held, params);
  }

  // ---------------------------------------------------------------------------
  // Events and webhook deliveries
  // ---------------------------------------------------------------------------

  /**
   * A Stripe Event carrying a snapshot of `object` now (Connect events name the connected account
   * in `account`). Kept by the double, so GET /v1/events/:id finds it.
   */
  event(
    type: string,
    object: Obj,
    options: { account?: string; created?: number; previousAttributes?: Obj; livemode?: boolean } = {},
  ): Obj {
    const id = newId('evt', 24);
    const event: Obj = {
      id,
      object: 'event',
      api_version: Stripe.API_VERSION,
      created: options.created ?? now(),
      data: {
        object: clone(object),
        ...(options.previousAttributes && { previous_attributes: options.previousAttributes }),
      },
      livemode: options.livemode ?? false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      type,
      ...(options.account && { account: options.account }),
    };
    this.events.set(id, event);
    return clone(event);
  }

  /** account.updated for an account as the double holds it now. */
  accountUpdated(id: string, options: { created?: number } = {}): Obj {
    return this.event('account.updated', this.getAccount(id), { account: id, ...options });
  }

  /** The body and Stripe-Signature header Stripe would send for an event. */
  sign(
    event: Obj | string,
    options: Pick<DeliveryOptions, 'secret' | 'timestamp'> = {},
  ): { body: string; signature: string } {
    const body = typeof event === 'string' ? event : JSON.stringify(event, null, 2);
    const signature = this.webhooks.generateTestHeaderString({
      payload: body,
      secret: options.secret ?? this.webhookSecret,
      timestamp: options.timestamp ?? now(),
    });
    return { body, signature };
  }

  /** POSTs one event to a webhook URL as Stripe does (signed; options forge, age or tamper it). */
  async deliver(url: string, event: Obj | string, options: DeliveryOptions = {}): Promise<DeliveryAnswer> {
    const signed = this.sign(event, options);
    const headers: Record<string, string> = {
      'content-type': 'application/json; charset=utf-8',
      'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
    };
    const signature = options.signature === undefined ? signed.signature : options.signature;
    if (signature !== null) headers['stripe-signature'] = signature;
    const response = await fetch(url, {
      method: 'POST',
      headers,
      body: options.tamper ? options.tamper(signed.body) : signed.body,
    });
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = text;
    }
    return { status: response.status, json };
  }

  /** Delivers several events (duplicates and order as the test lists them), all at once or one by one. */
  async deliverAll(url: string, events: Obj[], options: { concurrent?: boolean } = {}): Promise<DeliveryAnswer[]> {
    if (options.concurrent) return Promise.all(events.map((e) => this.deliver(url, e)));
    const answers: DeliveryAnswer[] = [];
    for (const e of events) answers.push(await this.deliver(url, e));
    return answers;
  }
}

export type { FormObject, FormValue };
