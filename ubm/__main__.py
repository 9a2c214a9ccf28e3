from ubm.cli import main

main()
