# Times R survival on the benchmark data; called by bench_survival.py as
#   Rscript bench_survival.R DATA.csv OUT.csv [REPEATS]
# Writes one row per quantity: name, seconds (best of REPEATS elapsed times, default 3), value (17 digits).
suppressMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
repeats <- if (length(args) >= 3) as.integer(args[3]) else 3L
d <- read.csv(args[1])
rows <- list()
add <- function(name, seconds, value) {
  rows[[length(rows) + 1]] <<- data.frame(name = name, seconds = seconds, value = sprintf("%.17g", value))
}
best <- function(expr) {  # best elapsed time of `repeats` evaluations, and the last value
  expr <- substitute(expr)
  times <- numeric(repeats)
  for (i in seq_len(repeats)) times[i] <- system.time(value <- eval(expr, parent.frame()))[["elapsed"]]
  list(seconds = min(times), value = value)
}
km <- best(survfit(Surv(time, event) ~ arm, data = d))
med <- summary(km$value)$table[, "median"]
add("km_median_0", km$seconds, med[[1]]); add("km_median_1", km$seconds, med[[2]])
lr <- best(survdiff(Surv(time, event) ~ arm + strata(stratum), data = d))
add("logrank_chisq", lr$seconds, lr$value$chisq)
cox <- best(coxph(Surv(time, event) ~ arm + strata(stratum), data = d, ties = "efron"))
fit <- cox$value
add("cox_coef", cox$seconds, coef(fit)[[1]]); add("cox_se", cox$seconds, sqrt(vcov(fit)[1, 1]))
add("cox_loglik", cox$seconds, fit$loglik[2])
write.csv(do.call(rbind, rows), args[2], row.names = FALSE, quote = FALSE)
