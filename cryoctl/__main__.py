from cryoctl.cli import main

main()
