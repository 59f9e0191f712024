"""The sandbox: one notebook in a contained kernel, and everything that contains it.

``contained`` runs a notebook (``run_notebook`` -> ``RunOutcome``) and says what containment is
active; ``kernel_launch`` starts its kernel fresh or forked, from one spec; ``bwrap`` writes the
bubblewrap command; ``forked_kernel`` keeps the worker's warm template, ``template_server`` is that
template (run as text in its sandbox, after ``kernel_limits`` and ``fork_isolation``);
``watchdog`` and ``capped_client`` bound what a running kernel may use and send;
``kernel_package`` is the course without its answer key that kernels import; ``environment`` the
variables kernels and workers share.
"""
