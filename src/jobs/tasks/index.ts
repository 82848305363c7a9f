import type { TaskDefinition } from '../task.js';
import { captureLapsingPayments } from './capture-lapsing-payments.js';
import { deliverWebhook } from './deliver-webhook.js';
import { expireApiKeys } from './expire-api-keys.js';
import { expirePendingBookings } from './expire-pending-bookings.js';
import { expireReferralRewards } from './expire-referral-rewards.js';
import { processStripeEventTask } from './process-stripe-event.js';
import { publishDueReviews } from './publish-due-reviews.js';
import { purgeExpiredRows } from './purge-expired-rows.js';
import { pushClerkUser } from './push-clerk-user.js';
import { reportStripeUsage } from './report-stripe-usage.js';
import { sendBookingReminders } from './send-booking-reminders.js';
import {
  cancelStripePayment,
  captureStripePayment,
  refundStripePayment,
  reverseStripeDisputeTransfer,
} from './stripe-payments.js';
import { authoriseStripeDefaultCard, syncStripeDefaultPaymentMethod } from './stripe-saved-cards.js';
import { sweepStorageTask } from './sweep-storage.js';
import { sweepWebhookDeliveries } from './sweep-webhook-deliveries.js';
import { syncStripePlan } from './sync-stripe-plan.js';

/** Every task a Loconomy worker runs, by name. */
export const TASKS: readonly TaskDefinition[] = [
  expirePendingBookings,
  sendBookingReminders,
  publishDueReviews,
  expireReferralRewards,
  expireApiKeys,
  purgeExpiredRows,
  deliverWebhook,
  sweepWebhookDeliveries,
  pushClerkUser,
  processStripeEventTask,
  captureStripePayment,
  cancelStripePayment,
  refundStripePayment,
  reverseStripeDisputeTransfer,
  captureLapsingPayments,
  syncStripeDefaultPaymentMethod,
  authoriseStripeDefaultCard,
  syncStripePlan,
  reportStripeUsage,
  sweepStorageTask,
];
