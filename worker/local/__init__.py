"""Running everything on one machine: a private Redis (:mod:`.embedded`), the process
supervisor behind `pinrelay up` (:mod:`.supervisor`), which relays its children's output
(:mod:`.relay`) and checks their ports first (:mod:`.ports`), the runtime file a second
terminal finds it by (:mod:`.runtime`) and the end-to-end demo (:mod:`.demo`)."""
