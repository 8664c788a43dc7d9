# Times R survival on the benchmark data; called by bench_survival.py as
#   Rscript bench_survival.R DATA.csv OUT.csv
# Writes one row per quantity: name, seconds, value (17 significant digits).
suppressMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
rows <- list()
add <- function(name, seconds, value) {
  rows[[length(rows) + 1]] <<- data.frame(name = name, seconds = seconds, value = sprintf("%.17g", value))
}
t_km <- system.time(km <- survfit(Surv(time, event) ~ arm, data = d))[["elapsed"]]
med <- summary(km)$table[, "median"]
add("km_median_0", t_km, med[[1]]); add("km_median_1", t_km, med[[2]])
t_lr <- system.time(lr <- survdiff(Surv(time, event) ~ arm + strata(stratum), data = d))[["elapsed"]]
add("logrank_chisq", t_lr, lr$chisq)
t_cox <- system.time(fit <- coxph(Surv(time, event) ~ arm + strata(stratum), data = d, ties = "efron"))[["elapsed"]]
add("cox_coef", t_cox, coef(fit)[[1]]); add("cox_se", t_cox, sqrt(vcov(fit)[1, 1]))
add("cox_loglik", t_cox, fit$loglik[2])
write.csv(do.call(rbind, rows), args[2], row.names = FALSE, quote = FALSE)
