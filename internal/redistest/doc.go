// Package redistest gives tests a real Redis: the server named by
// SWITCHBOARD_TEST_REDIS_URL (shared, with a unique key prefix per test),
// or a redis-server it starts on a free loopback port. Without either it
// skips the test with a loud reason, except under CI=true, where a missing
// peer fails the test instead.
package redistest
