"""The lab's own commands: the app, the benchmarks, the cache-strategy comparison, the chaos
check, the Create grader, the N+1 and pooling demonstrations. The data commands sit beside
this package; these use the lab's scenarios (``qulab.lab``) as well."""
