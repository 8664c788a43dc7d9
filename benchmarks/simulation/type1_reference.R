# Independent references for the type I error of the two-sided 0.05 log-rank test in the benchmark design
# under HR 1: 120 patients, uniform accrual of 10/month, exponential PFS (median 6 months), analysis at the
# 90th event. Usage: Rscript type1_reference.R ITERATIONS SEED
#  1. R survival::survdiff on data simulated here (1:1 alternating allocation, cut at the 90th event
#     in calendar time, censored at the cut);
#  2. rpact getSimulationSurvival: the two one-sided 0.025 rejection rates, summed.
suppressMessages({
  library(survival)
  library(rpact)
})
args <- commandArgs(trailingOnly = TRUE)
iterations <- if (length(args) > 0) as.integer(args[1]) else 100000L
seed <- if (length(args) > 1) as.integer(args[2]) else 7L
n <- 120
events <- 90
rate <- log(2) / 6
arm <- rep(0:1, n / 2)
entry <- (0:(n - 1)) / 10
set.seed(seed)
rejected <- 0L
for (i in seq_len(iterations)) {
  t <- rexp(n, rate)
  calendar <- entry + t
  cut <- sort(calendar, partial = events)[events]
  is_event <- calendar <= cut
  time <- ifelse(is_event, t, cut - entry)
  keep <- entry < cut
  test <- survdiff(Surv(time[keep], is_event[keep]) ~ arm[keep])
  if (pchisq(test$chisq, 1, lower.tail = FALSE) <= 0.05) rejected <- rejected + 1L
}
p <- rejected / iterations
cat(sprintf("survdiff: %d trials, seed %d: rejection %.5f (MC SE %.5f)\n", iterations, seed, p,
            sqrt(p * (1 - p) / iterations)))
design <- getDesignGroupSequential(kMax = 1, alpha = 0.025, sided = 1)
tails <- sapply(c(FALSE, TRUE), function(direction) {
  getSimulationSurvival(
    design = design, median2 = 6, hazardRatio = 1, directionUpper = direction,
    accrualTime = c(0, 12), maxNumberOfSubjects = n, plannedEvents = events,
    maxNumberOfIterations = iterations, seed = seed
  )$overallReject
})
p <- sum(tails)
cat(sprintf("rpact %s: %d trials, seed %d: rejection %.5f (lower %.5f, upper %.5f; MC SE %.5f)\n",
            as.character(packageVersion("rpact")), iterations, seed, p, tails[1], tails[2],
            sqrt(p * (1 - p) / iterations)))
