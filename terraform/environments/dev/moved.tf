# The modules used to be called from this root directly; these keep existing state (no replacement).

moved {
  from = module.network
  to   = module.stack.module.network
}

moved {
  from = module.data
  to   = module.stack.module.data
}

moved {
  from = module.service
  to   = module.stack.module.service
}
